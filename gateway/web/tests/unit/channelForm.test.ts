import { describe, expect, it } from 'vitest';
import { dictionaries, type Key } from '../../src/i18n';
import {
  CHANNEL_KINDS,
  NotANumber,
  channelBody,
  channelErrorField,
  channelFields,
  channelInitial,
} from '../../src/lib/channelForm';

describe('the form that connects a channel', () => {
  it('has each kind’s fields, with every secret in a password input', () => {
    const names = (kind: (typeof CHANNEL_KINDS)[number]) => channelFields(kind).map((f) => f.name);
    expect(names('telegram')).toEqual(['name', 'bot_token', 'api_base']);
    expect(names('whatsapp')).toEqual(['name', 'phone_number_id', 'access_token', 'app_secret', 'verify_token', 'api_base']);
    expect(names('vk')).toEqual(['name', 'group_id', 'access_token', 'secret', 'confirmation', 'api_base']);
    expect(names('email')).toEqual([
      'name', 'address',
      'imap.host', 'imap.port', 'imap.security', 'imap.username', 'imap.password',
      'smtp.host', 'smtp.port', 'smtp.security', 'smtp.username', 'smtp.password',
    ]);
    const secrets = ['bot_token', 'access_token', 'app_secret', 'verify_token', 'secret', 'imap.password', 'smtp.password'];
    for (const kind of CHANNEL_KINDS) {
      for (const f of channelFields(kind)) {
        expect(f.kind === 'password', `${kind} ${f.name}`).toBe(secrets.includes(f.name));
        expect(f.required, `${kind} ${f.name}`).toBe(f.name !== 'api_base');
        for (const lang of ['en', 'ru'] as const) expect(dictionaries[lang][f.label as Key], f.label).toBeTruthy();
      }
    }
    // STARTTLS is SMTP's alone.
    expect(channelFields('email').find((f) => f.name === 'imap.security')?.options).toEqual(['tls', 'plain']);
    expect(channelFields('email').find((f) => f.name === 'smtp.security')?.options).toEqual(['tls', 'starttls', 'plain']);
  });

  it('starts empty, with the usual mail ports', () => {
    expect(channelInitial('telegram')).toEqual({ name: '', bot_token: '', api_base: '' });
    expect(channelInitial('email')).toMatchObject({ 'imap.port': '993', 'smtp.port': '465', 'smtp.security': 'tls' });
  });

  it('turns the typed values into the API’s body for each kind', () => {
    expect(channelBody('telegram', { name: 'Shop', bot_token: '123:abc', api_base: '' })).toEqual({
      kind: 'telegram', name: 'Shop', bot_token: '123:abc', api_base: null,
    });
    expect(channelBody('telegram', { name: 'Shop', bot_token: 't', api_base: ' http://127.0.0.1:9 ' })).toMatchObject({
      api_base: 'http://127.0.0.1:9',
    });
    expect(
      channelBody('vk', { name: 'Club', group_id: ' 42 ', access_token: 'a', secret: 's', confirmation: 'c', api_base: '' }),
    ).toEqual({ kind: 'vk', name: 'Club', group_id: 42, access_token: 'a', secret: 's', confirmation: 'c', api_base: null });
    expect(
      channelBody('whatsapp', {
        name: 'WA', phone_number_id: ' 1055 ', access_token: 'a', app_secret: 'b', verify_token: 'v', api_base: '',
      }),
    ).toMatchObject({ kind: 'whatsapp', phone_number_id: '1055' });
    const mail = channelBody('email', {
      ...channelInitial('email'),
      name: 'Support', address: ' help@shop.test ',
      'imap.host': 'imap.shop.test', 'imap.username': 'help', 'imap.password': 'pw1',
      'smtp.host': 'smtp.shop.test', 'smtp.port': '587', 'smtp.security': 'starttls', 'smtp.username': 'help', 'smtp.password': 'pw2',
    });
    expect(mail).toEqual({
      kind: 'email', name: 'Support', address: 'help@shop.test',
      imap: { host: 'imap.shop.test', port: 993, security: 'tls', username: 'help', password: 'pw1' },
      smtp: { host: 'smtp.shop.test', port: 587, security: 'starttls', username: 'help', password: 'pw2' },
    });
  });

  it('names the field of a number that is not one, and of a provider’s refusal', () => {
    expect(() => channelBody('vk', { group_id: 'club42' })).toThrow(NotANumber);
    try {
      channelBody('email', { ...channelInitial('email'), 'smtp.port': '5x' });
    } catch (e) {
      expect((e as NotANumber).field).toBe('smtp.port');
    }
    expect(channelErrorField('email', 'imap')).toBe('imap.password');
    expect(channelErrorField('telegram', 'bot_token')).toBe('bot_token');
    expect(channelErrorField('telegram', null)).toBeNull();
  });
});
