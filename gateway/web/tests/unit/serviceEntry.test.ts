import { describe as group, expect, it } from 'vitest';
import { describe } from '../../src/lib/serviceEntry';
import { translate, type Key } from '../../src/i18n';

const names = {
  operator: (id: string) => (id === 'op-1' ? 'Ольга' : null),
  tag: (id: string) => ({ t1: 'VIP', t2: 'Опт' })[id] ?? null,
  stage: (id: string) => (id === 's1' ? 'Won' : null),
};
const words = (entry: unknown) => {
  const d = describe(entry, names);
  return translate('en', d.key as Key, d.vars);
};

group('service entries', () => {
  it('name the operator, the tags, the stage and the funnel block', () => {
    expect(words({ type: 'dialog.assigned', operator: 'op-1', previous: null })).toBe('assigned the dialog to Ольга');
    expect(words({ type: 'tags.added', tags: ['t1', 't2'] })).toBe('tags added: VIP, Опт');
    expect(words({ type: 'deal.stage_changed', stage: 's1' })).toBe('deal stage: Won');
    expect(words({ type: 'funnel.block_entered', block: 'greeting', block_name: 'Привет' })).toBe('funnel block: Привет');
    expect(words({ type: 'dialog.closed' })).toBe('closed the dialog');
  });

  it('read as sentences after their author: an operator who assigned the dialog to themselves took it', () => {
    const by = (entry: unknown, author: string) => {
      const d = describe(entry, names, author);
      return translate('ru', d.key as Key, d.vars);
    };
    expect(by({ type: 'dialog.assigned', operator: 'op-1' }, 'op-1')).toBe('взял(а) диалог');
    expect(by({ type: 'dialog.assigned', operator: 'op-1' }, 'op-2')).not.toBe('взял(а) диалог');
    expect(words({ type: 'dialog.reopened' })).toBe('reopened the dialog');
  });

  it('keep an unknown id or type visible rather than dropping the entry', () => {
    expect(words({ type: 'dialog.assigned', operator: '0197abcd-0000' })).toBe('assigned the dialog to 0197abcd');
    expect(words({ type: 'something.new' })).toBe('something.new');
    expect(words(null)).toBe('?');
  });
});
