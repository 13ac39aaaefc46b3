// A trailing debounce with an explicit flush: the draft is saved `wait` ms after the last
// keystroke, and at once when the operator leaves the dialog or the page.

export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  /** Runs a pending call now (nothing when none is pending). */
  flush(): void;
  /** Drops a pending call. */
  cancel(): void;
  /** Whether a call waits. */
  pending(): boolean;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, wait: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  const run = () => {
    timer = null;
    const args = last;
    last = null;
    if (args) fn(...args);
  };
  const debounced = ((...args: A) => {
    last = args;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(run, wait);
  }) as Debounced<A>;
  debounced.flush = () => {
    if (timer !== null) clearTimeout(timer);
    if (last) run();
  };
  debounced.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    last = null;
  };
  debounced.pending = () => last !== null;
  return debounced;
}
