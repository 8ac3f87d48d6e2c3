from django.apps import AppConfig


class UnfoldDemoConfig(AppConfig):
    name = "tests.skins.unfold_demo"
    label = "unfold_demo"
