import { afterEach, describe, expect, it, vi } from 'vitest';
import { debounce } from '../../src/lib/debounce';
import { MAX_MESSAGE_CHARS, countedChars, initials, insertAt, snippet } from '../../src/lib/text';

describe('F3.4 counter', () => {
  it('counts code points but no whitespace', () => {
    expect(countedChars('a b\tc\nd')).toBe(4);
    expect(countedChars('привет мир')).toBe(9);
    expect(countedChars('👍🏽 ok')).toBe(4);
    expect(countedChars(' '.repeat(5000))).toBe(0);
    expect(countedChars('x '.repeat(MAX_MESSAGE_CHARS + 1)) > MAX_MESSAGE_CHARS).toBe(true);
  });

  it('makes initials for avatar placeholders', () => {
    expect(initials('Анна Петрова')).toBe('АП');
    expect(initials('vasya1988@example.com')).toBe('VE');
    expect(initials('')).toBe('?');
  });
});

describe('draft debounce', () => {
  afterEach(() => vi.useRealTimers());

  it('saves once, after the last keystroke, with the last text', () => {
    vi.useFakeTimers();
    const saved: string[] = [];
    const save = debounce((text: string) => saved.push(text), 500);
    save('h');
    vi.advanceTimersByTime(300);
    save('he');
    vi.advanceTimersByTime(300);
    save('hello');
    expect(saved).toEqual([]);
    vi.advanceTimersByTime(499);
    expect(saved).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(saved).toEqual(['hello']);
  });

  it('flushes a pending save at once (leaving the dialog) and cancels on send', () => {
    vi.useFakeTimers();
    const saved: string[] = [];
    const save = debounce((text: string) => saved.push(text), 500);
    save('draft');
    expect(save.pending()).toBe(true);
    save.flush();
    expect(saved).toEqual(['draft']);
    expect(save.pending()).toBe(false);
    save.flush();
    expect(saved).toEqual(['draft']);
    save('sent');
    save.cancel();
    vi.advanceTimersByTime(1000);
    expect(saved).toEqual(['draft']);
  });
});

describe('putting a template or an emoji into the reply', () => {
  it('goes in at the caret, replacing a selection, and says where the caret goes', () => {
    expect(insertAt('Hello world', 5, 5, ' dear')).toEqual({ text: 'Hello dear world', caret: 10 });
    expect(insertAt('Hello world', 6, 11, 'there')).toEqual({ text: 'Hello there', caret: 11 });
    expect(insertAt('', 0, 0, '👍')).toEqual({ text: '👍', caret: 2 });
  });

  it('sets a template apart by a space from text that does not end in one', () => {
    expect(insertAt('Hi!', 3, 3, 'Your order is on its way.', true).text).toBe('Hi! Your order is on its way.');
    expect(insertAt('Hi! ', 4, 4, 'Thanks.', true).text).toBe('Hi! Thanks.');
    expect(insertAt('', 0, 0, 'Thanks.', true).text).toBe('Thanks.');
  });

  it('keeps a caret outside the text inside it', () => {
    expect(insertAt('abc', 10, 12, 'd')).toEqual({ text: 'abcd', caret: 4 });
    expect(insertAt('abc', 2, 1, 'X')).toEqual({ text: 'abXc', caret: 3 });
  });
});

describe('a snippet of a message (a quote, a template name)', () => {
  it('is one line, cut at a word with an ellipsis when too long', () => {
    expect(snippet('Where is\n  my order?', 40)).toBe('Where is my order?');
    expect(snippet('Your order is on its way to you', 20)).toBe('Your order is on…');
    expect(snippet('Averyveryverylongwordwithoutspaces', 10)).toBe('Averyvery…');
    expect([...snippet('привет '.repeat(30), 25)].length).toBeLessThanOrEqual(25);
    expect(snippet('', 10)).toBe('');
  });
});
