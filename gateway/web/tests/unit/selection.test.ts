import { describe, expect, it } from 'vitest';
import { highlightParts } from '../../src/lib/highlight';
import { range, toggle } from '../../src/lib/selection';

const ids = ['a', 'b', 'c', 'd', 'e'];

describe('picking rows for a bulk action', () => {
  it('toggles one row', () => {
    const one = toggle(new Set(), 'b');
    expect([...one]).toEqual(['b']);
    expect([...toggle(one, 'b')]).toEqual([]);
  });

  it('picks a shift-click range from the anchor either way, and drops it from a picked row', () => {
    expect([...range(new Set(['b']), ids, 1, 3)].sort()).toEqual(['b', 'c', 'd']);
    expect([...range(new Set(), ids, 4, 2)].sort()).toEqual(['c', 'd', 'e']);
    expect([...range(new Set(['a', 'b', 'c', 'd']), ids, 0, 2)].sort()).toEqual(['d']);
    // No anchor: the clicked row alone.
    expect([...range(new Set(), ids, null, 2)]).toEqual(['c']);
  });
});

describe('search hit highlighting', () => {
  it('marks each word of the query, case-insensitively', () => {
    expect(highlightParts('Where is my Order? order 42', 'order')).toEqual([
      { text: 'Where is my ', hit: false },
      { text: 'Order', hit: true },
      { text: '? ', hit: false },
      { text: 'order', hit: true },
      { text: ' 42', hit: false },
    ]);
    expect(highlightParts('a+b (c)', '(c) a+b')).toEqual([
      { text: 'a+b', hit: true },
      { text: ' ', hit: false },
      { text: '(c)', hit: true },
    ]);
    expect(highlightParts('plain', '')).toEqual([{ text: 'plain', hit: false }]);
  });
});
