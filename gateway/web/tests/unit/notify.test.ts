import { describe, expect, it } from 'vitest';
import { alertFor } from '../../src/lib/notify';

const on = { notifications: true, sound: true };
const message = (text: string, extra: Partial<{ truncated: boolean; attachments: number }> = {}) => ({
  text,
  truncated: false,
  attachments: 0,
  ...extra,
});

describe('a new message alerts', () => {
  it('with the last text, and how many more came', () => {
    expect(alertFor(on, [], 'Anna', [message('hi')], 'Attachment')).toEqual({ title: 'Anna', body: 'hi', sound: true });
    expect(alertFor(on, [], 'Anna', [message('a'), message('b', { truncated: true })], 'Attachment')).toEqual({
      title: 'Anna (+1)',
      body: 'b…',
      sound: true,
    });
    expect(alertFor(on, [], 'Anna', [message(' ', { attachments: 2 })], 'Attachment')?.body).toBe('Attachment');
  });
  it('never when the person switched notifications off, or nothing came', () => {
    expect(alertFor({ notifications: false, sound: true }, [], 'Anna', [message('hi')], 'A')).toBeNull();
    expect(alertFor(null, [], 'Anna', [message('hi')], 'A')).toBeNull();
    expect(alertFor(on, [], 'Anna', [], 'A')).toBeNull();
  });
  it("follows the dialog's folders: any with push pushes, any with sound sounds", () => {
    expect(alertFor(on, [{ push: false, sound: true }], 'A', [message('x')], 'A')).toBeNull();
    expect(alertFor(on, [{ push: false, sound: true }, { push: true, sound: false }], 'A', [message('x')], 'A')?.sound).toBe(
      true,
    );
    expect(alertFor(on, [{ push: true, sound: false }], 'A', [message('x')], 'A')?.sound).toBe(false);
  });
  it("is silent when the person's sound is off, whatever the folders", () => {
    expect(alertFor({ notifications: true, sound: false }, [{ push: true, sound: true }], 'A', [message('x')], 'A')?.sound).toBe(
      false,
    );
  });
});
