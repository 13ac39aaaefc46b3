// Windowing for the dialog list: which rows of a long list to put in the DOM. Rows have one
// fixed height, so the window is arithmetic: the rows under the viewport plus `overscan` on
// each side; the list's scroll height comes from a spacer of `count * rowHeight`.

export interface WindowInput {
  /** The scroll container's scrollTop, px. */
  scrollTop: number;
  /** The scroll container's visible height, px. */
  viewport: number;
  /** Each row's height, px (> 0). */
  rowHeight: number;
  /** Rows in the list (loaded so far). */
  count: number;
  /** Extra rows drawn above and below the viewport. */
  overscan: number;
}

export interface WindowRange {
  /** First row index drawn (inclusive). */
  start: number;
  /** Row index after the last drawn (exclusive). */
  end: number;
  /** The spacer's height: every row's, px. */
  total: number;
}

export function visibleRange(input: WindowInput): WindowRange {
  const { rowHeight, count } = input;
  const overscan = Math.max(0, Math.floor(input.overscan));
  const total = Math.max(0, count) * rowHeight;
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, total: Math.max(0, total) };
  const top = Math.min(Math.max(0, input.scrollTop), Math.max(0, total - input.viewport));
  const first = Math.floor(top / rowHeight);
  const shown = Math.ceil(Math.max(0, input.viewport) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + shown + overscan);
  return { start, end, total };
}

/** The scrollTop that brings row `index` into view, or `null` when it is visible already. */
export function scrollToReveal(
  index: number,
  scrollTop: number,
  viewport: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewport) return bottom - viewport;
  return null;
}

/** Whether the viewport is within `rows` rows of the end: time to load the next page. */
export function nearEnd(input: WindowInput, rows: number): boolean {
  const bottom = input.scrollTop + input.viewport;
  return bottom >= input.count * input.rowHeight - rows * input.rowHeight;
}
