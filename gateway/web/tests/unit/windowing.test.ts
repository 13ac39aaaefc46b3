import { describe, expect, it } from 'vitest';
import { nearEnd, scrollToReveal, visibleRange } from '../../src/lib/windowing';

describe('visibleRange', () => {
  const base = { rowHeight: 76, viewport: 760, overscan: 8 };

  it('draws the rows under the viewport plus the overscan, never past the ends', () => {
    expect(visibleRange({ ...base, scrollTop: 0, count: 10_000 })).toEqual({ start: 0, end: 19, total: 760_000 });
    const middle = visibleRange({ ...base, scrollTop: 76 * 5000, count: 10_000 });
    expect(middle.start).toBe(4992);
    expect(middle.end).toBe(5019);
    const last = visibleRange({ ...base, scrollTop: 10_000_000, count: 10_000 });
    expect(last.end).toBe(10_000);
    expect(last.start).toBe(10_000 - 10 - 8);
  });

  it('keeps fewer than 300 rows drawn at every position of a 10k-row list', () => {
    for (let top = 0; top < 76 * 10_000; top += 997) {
      const { start, end } = visibleRange({ ...base, viewport: 1200, scrollTop: top, count: 10_000 });
      expect(end - start).toBeLessThan(300);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(end).toBeLessThanOrEqual(10_000);
    }
  });

  it('draws nothing for an empty list and clamps a short one', () => {
    expect(visibleRange({ ...base, scrollTop: 0, count: 0 })).toEqual({ start: 0, end: 0, total: 0 });
    expect(visibleRange({ ...base, scrollTop: 500, count: 3 })).toEqual({ start: 0, end: 3, total: 228 });
  });
});

describe('scrollToReveal', () => {
  it('scrolls only when the row is outside the viewport', () => {
    expect(scrollToReveal(5, 0, 760, 76)).toBeNull();
    expect(scrollToReveal(10, 0, 760, 76)).toBe(76);
    expect(scrollToReveal(2, 760, 760, 76)).toBe(152);
  });
});

describe('nearEnd', () => {
  it('asks for the next page within the given rows of the end', () => {
    const at = (scrollTop: number) => ({ scrollTop, viewport: 760, rowHeight: 76, count: 100, overscan: 0 });
    expect(nearEnd(at(0), 20)).toBe(false);
    expect(nearEnd(at(76 * 70), 20)).toBe(true);
  });
});
