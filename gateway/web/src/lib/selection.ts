// Rows picked for a bulk action (F6.1): one at a time (a click on the box, `x`), a range (a
// shift-click from the last picked row), or everything that matches the list. Pure functions
// over an immutable set: the UI keeps it in a signal, the unit tests drive them directly.

/** The set with `id` added, or removed when it was there. */
export function toggle(selected: ReadonlySet<string>, id: string): ReadonlySet<string> {
  const next = new Set(selected);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

/**
 * A shift-click: every row from the anchor (the last row picked) to `index`, both included, set
 * to what the clicked row becomes (picked when it was not, dropped when it was).
 */
export function range(
  selected: ReadonlySet<string>,
  ids: readonly string[],
  anchor: number | null,
  index: number,
): ReadonlySet<string> {
  const clicked = ids[index];
  if (clicked === undefined) return selected;
  if (anchor === null || anchor < 0 || anchor >= ids.length) return toggle(selected, clicked);
  const pick = !selected.has(clicked);
  const next = new Set(selected);
  const [from, to] = anchor <= index ? [anchor, index] : [index, anchor];
  for (let i = from; i <= to; i += 1) {
    const id = ids[i] as string;
    if (pick) next.add(id);
    else next.delete(id);
  }
  return next;
}
