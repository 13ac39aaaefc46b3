import { describe, expect, it } from 'vitest';
import { admit, bareType, formatBytes, kindOf, recheck, refusalOf, setRefusal, type Limits } from '../../src/lib/attachments';

const MB = 1024 * 1024;
const any = (max: number) => ({ max_bytes: max * MB, types: [] as string[] });

// As `/v1/project` answers them for the demo's channels (core::domain::compose).
const telegram: Limits = { image: any(10), audio: any(50), video: any(50), file: any(50), max_images: 10, total_bytes: 500 * MB };
const whatsapp: Limits = {
  image: { max_bytes: 5 * MB, types: ['image/jpeg', 'image/png'] },
  audio: { max_bytes: 16 * MB, types: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg'] },
  video: { max_bytes: 16 * MB, types: ['video/mp4', 'video/3gpp'] },
  file: any(100),
  max_images: 10,
  total_bytes: 500 * MB,
};
const email: Limits = { image: any(500), audio: any(500), video: any(500), file: any(500), max_images: 10, total_bytes: 500 * MB };

const file = (name: string, size: number, type: string) => ({ name, size, type });

describe('the kind of a file', () => {
  it('comes from the media type, as the server sorts them', () => {
    expect(kindOf('image/png')).toBe('image');
    expect(kindOf('Audio/OGG; codecs=opus')).toBe('audio');
    expect(kindOf('video/mp4')).toBe('video');
    expect(kindOf('application/pdf')).toBe('file');
    expect(kindOf('')).toBe('file');
    expect(bareType('audio/ogg; codecs=opus')).toBe('audio/ogg');
  });
});

describe("one file against the channel's limits", () => {
  it('is refused over the size of its kind, and passes at it exactly', () => {
    expect(refusalOf(file('a.jpg', 5 * MB, 'image/jpeg'), whatsapp)).toBeNull();
    expect(refusalOf(file('a.jpg', 5 * MB + 1, 'image/jpeg'), whatsapp)).toEqual({ code: 'size', kind: 'image', max: 5 * MB });
    expect(refusalOf(file('a.jpg', 6 * MB, 'image/jpeg'), telegram)).toBeNull();
    expect(refusalOf(file('a.zip', 60 * MB, 'application/zip'), telegram)).toEqual({ code: 'size', kind: 'file', max: 50 * MB });
    expect(refusalOf(file('a.zip', 60 * MB, 'application/zip'), email)).toBeNull();
  });

  it('is refused for a media type the channel does not take', () => {
    expect(refusalOf(file('a.webp', 1000, 'image/webp'), whatsapp)).toEqual({
      code: 'type',
      kind: 'image',
      types: ['image/jpeg', 'image/png'],
    });
    expect(refusalOf(file('a.webp', 1000, 'image/webp'), telegram)).toBeNull();
    expect(refusalOf(file('v.ogg', 1000, 'audio/ogg; codecs=opus'), whatsapp)).toBeNull();
  });
});

describe('the files of one message', () => {
  it('are one file, or up to the channel’s number of images, within the total', () => {
    const images = Array.from({ length: 10 }, (_, i) => file(`${i}.png`, MB, 'image/png'));
    expect(setRefusal(images, telegram)).toBeNull();
    expect(setRefusal([...images, file('x.png', MB, 'image/png')], telegram)).toEqual({ code: 'images', max: 10 });
    expect(setRefusal([file('a.pdf', MB, 'application/pdf'), file('b.png', MB, 'image/png')], telegram)).toEqual({ code: 'alone' });
    expect(setRefusal([file('a.pdf', MB, 'application/pdf')], telegram)).toBeNull();
    const big = { ...email, total_bytes: 3 * MB };
    expect(setRefusal([file('a.png', 2 * MB, 'image/png'), file('b.png', 2 * MB, 'image/png')], big)).toEqual({ code: 'total', max: 3 * MB });
  });

  it('takes new files in order and refuses each that breaks a rule, with why', () => {
    const taken = [file('a.png', MB, 'image/png')];
    const offered = [
      file('b.png', MB, 'image/png'),
      file('huge.png', 6 * MB, 'image/png'),
      file('doc.pdf', MB, 'application/pdf'),
      file('c.jpg', MB, 'image/jpeg'),
    ];
    const result = admit(taken, offered, whatsapp);
    expect(result.taken.map((f) => f.name)).toEqual(['b.png', 'c.jpg']);
    expect(result.refused.map((r) => [r.file.name, r.why.code])).toEqual([
      ['huge.png', 'size'],
      ['doc.pdf', 'alone'],
    ]);
  });

  it('are checked again for another channel: what it refuses is marked, the rest kept', () => {
    const files = [file('a.png', 6 * MB, 'image/png'), file('b.webp', MB, 'image/webp'), file('c.png', MB, 'image/png')];
    expect(recheck(files, telegram)).toEqual([null, null, null]);
    const again = recheck(files, whatsapp);
    expect(again.map((r) => r?.code ?? null)).toEqual(['size', 'type', null]);
    // Back to a channel that takes them: nothing refused.
    expect(recheck(files, telegram).every((r) => r === null)).toBe(true);
  });
});

describe('sizes for people', () => {
  it('in 1024-based units, in both languages', () => {
    expect(formatBytes(512, 'en')).toBe('512 B');
    expect(formatBytes(5 * MB, 'en')).toBe('5 MB');
    expect(formatBytes(1.5 * MB, 'ru')).toBe('1,5 МБ');
    expect(formatBytes(1536, 'en')).toBe('1.5 KB');
    expect(formatBytes(500 * MB, 'ru')).toBe('500 МБ');
    expect(formatBytes(12.4 * MB, 'en')).toBe('12 MB');
  });
});
