import { describe, expect, it } from 'vitest';
import {
  activeFrom,
  buildFilter,
  condition,
  countConditions,
  dayStart,
  emptyPanel,
  parseFilter,
  type Condition,
  type FilterNode,
  type Kind,
  type Panel,
} from '../../src/lib/filterModel';

const T1 = '00000000-0000-0000-0000-000000000001';
const T2 = '00000000-0000-0000-0000-000000000002';
const OP = '00000000-0000-0000-0000-0000000000aa';

const c = (kind: Kind, patch: Partial<Condition> = {}): Condition => ({ ...condition(kind), ...patch });

describe('the filter panel builds the API filter JSON', () => {
  it('has no filter while no condition is complete', () => {
    expect(buildFilter(emptyPanel())).toBeNull();
    const panel: Panel = { join: 'all', groups: [{ join: 'all', conditions: [c('tags_all'), c('assignee'), c('client_number', { text: '12a' })] }] };
    expect(buildFilter(panel)).toBeNull();
    expect(countConditions(buildFilter(panel))).toBe(0);
  });

  it('joins groups with AND or OR, a group of one being its condition', () => {
    const panel: Panel = {
      join: 'any',
      groups: [
        { join: 'all', conditions: [c('free'), c('status', { text: 'open' })] },
        { join: 'any', conditions: [c('unanswered')] },
        { join: 'any', conditions: [c('last_author', { text: 'client' }), c('tags_none', { ids: [T1] })] },
      ],
    };
    expect(buildFilter(panel)).toEqual({
      any: [
        { all: [{ assignee: null }, { status: 'open' }] },
        'unanswered',
        { any: [{ last_author: 'client' }, { tags_none: [T1] }] },
      ],
    });
  });

  it('writes every F2.3 condition in the form the API takes', () => {
    const from = dayStart('2026-03-01') as string;
    const nodes = (
      [
        [c('channels', { ids: [T1] }), { channels: [T1] }],
        [c('tags_all', { ids: [T1, T2] }), { tags_all: [T1, T2] }],
        [c('tags_any', { ids: [T1, T2] }), { any: [{ tags_all: [T1] }, { tags_all: [T2] }] }],
        [c('no_tags'), 'no_tags'],
        [c('any_tag'), 'any_tag'],
        [c('assignee', { text: OP }), { assignee: OP }],
        [c('lists_any', { ids: [T2] }), { lists_any: [T2] }],
        [c('lists_none', { ids: [T2] }), { lists_none: [T2] }],
        [c('deal_stages', { ids: [T1] }), { deal_stages: [T1] }],
        [c('funnel_block', { text: ' start, pay ,' }), { funnel_block: ['start', 'pay'] }],
        [c('variable', { text: 'city' }), { variable: { name: 'city' } }],
        [c('variable', { text: 'city', text2: 'Kazan' }), { variable: { name: 'city', value: 'Kazan' } }],
        [c('client_number', { text: '042' }), { client_number: '042' }],
        [c('registered_from', { text: '2026-03-01' }), { registered_from: from }],
        [c('registered_before', { text: '2026-03-01' }), { registered_before: from }],
      ] as [Condition, FilterNode][]
    ).map(([cond, node]) => {
      expect(buildFilter({ join: 'all', groups: [{ join: 'all', conditions: [cond] }] })).toEqual({ all: [node] });
      return node;
    });
    expect(nodes).toHaveLength(15);
  });

  it('makes a date range take both days whole', () => {
    const node = buildFilter({
      join: 'all',
      groups: [{ join: 'all', conditions: [c('active_between', { text: '2026-03-01', text2: '2026-03-02' })] }],
    }) as { all: [{ active_between: { from: string; to: string } }] };
    const { from, to } = node.all[0].active_between;
    // Two local days (23 to 25 hours each around a clock change).
    const hours = (Date.parse(to) - Date.parse(from)) / 3_600_000;
    expect(hours).toBeGreaterThanOrEqual(46);
    expect(hours).toBeLessThanOrEqual(50);
    expect(new Date(from).getDate()).toBe(1);
  });

  it('counts the conditions as the API does: each leaf, an any-of-tags as its tags', () => {
    expect(countConditions({ all: [] })).toBe(0);
    expect(countConditions('unanswered')).toBe(1);
    expect(countConditions({ all: [{ any: [{ tags_all: [T1] }, { tags_all: [T2] }] }, { status: 'open' }, { any: ['no_tags', { assignee: null }] }] })).toBe(5);
  });
});

describe('a saved filter parses back into the panel', () => {
  it('round-trips what the panel built', () => {
    const panel: Panel = {
      join: 'any',
      groups: [
        { join: 'all', conditions: [c('tags_any', { ids: [T1, T2] }), c('assignee', { text: OP })] },
        { join: 'all', conditions: [c('active_between', { text: '2026-01-10', text2: '2026-01-12' })] },
        { join: 'any', conditions: [c('variable', { text: 'city', text2: 'Kazan' }), c('funnel_block', { text: 'a, b' })] },
      ],
    };
    const node = buildFilter(panel) as FilterNode;
    const back = parseFilter(node);
    expect(back).toEqual(panel);
    expect(buildFilter(back as Panel)).toEqual(node);
  });

  it('takes a bare condition or a flat group written by hand', () => {
    expect(parseFilter('unanswered')).toEqual({ join: 'all', groups: [{ join: 'all', conditions: [c('unanswered')] }] });
    expect(parseFilter({ all: [] })).toEqual(emptyPanel());
    const flat: FilterNode = { all: [{ status: 'closed' }, { assignee: null }] };
    const panel = parseFilter(flat) as Panel;
    expect(panel.groups.map((g) => g.conditions[0]?.kind)).toEqual(['status', 'free']);
    expect(buildFilter(panel)).toEqual(flat);
  });

  it('refuses what nests deeper than the panel shows', () => {
    expect(parseFilter({ all: [{ any: [{ all: ['unanswered', 'no_tags'] }, 'any_tag'] }] })).toBeNull();
  });
});

describe('the activity range a dialog opens at', () => {
  it('is the first active_between found, at any depth', () => {
    const range = { from: '2026-02-01T00:00:00Z', to: '2026-02-03T00:00:00Z' };
    expect(activeFrom(null)).toBeNull();
    expect(activeFrom({ all: [{ status: 'open' }, 'unanswered'] })).toBeNull();
    expect(activeFrom({ active_between: range })).toBe(range.from);
    expect(activeFrom({ any: [{ status: 'open' }, { all: [{ active_between: range }] }] })).toBe(range.from);
  });
});
