/* Words and times for people: the admin's JavaScript catalog when loaded, English otherwise. */

export const gettext = window.gettext || ((s) => s);

export function interpolate(fmt, values) {
  if (window.interpolate) { return window.interpolate(fmt, values, true); }
  return fmt.replace(/%\((\w+)\)s/g, (_, k) => String(values[k]));
}

export function hhmm(iso) {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) { return interpolate(gettext("%(n)s s"), { n: s }); }
  return interpolate(gettext("%(n)s min"), { n: Math.round(s / 60) });
}
