// The form that connects a channel (`POST /v1/channels`), one for each kind the API takes:
// its fields (secrets as password inputs, never filled from an answer), their first values,
// and the typed values as the API's body. Email's server fields are named by the paths the
// API's errors name (`imap.host`, `smtp.port`), so a refusal lands beside its field.

import type { components } from '../api/schema';

export type NewChannel = components['schemas']['NewChannel'];
export type ChannelFormKind = NewChannel['kind'];
export const CHANNEL_KINDS: readonly ChannelFormKind[] = ['telegram', 'whatsapp', 'vk', 'email'];

type Values = Record<string, string | boolean>;

/** A field of the form: its dictionary label (with `{side}` for a mail server's). */
export interface ChannelField {
  name: string;
  label: string;
  side?: 'IMAP' | 'SMTP';
  kind: 'text' | 'email' | 'password' | 'number' | 'select';
  required: boolean;
  hint?: string;
  options?: readonly string[];
}

const field = (name: string, kind: ChannelField['kind'], required = true, hint?: string): ChannelField => ({
  name,
  label: `channels.field.${name}`,
  kind,
  required,
  ...(hint ? { hint } : {}),
});

const NAME = field('name', 'text');
const API_BASE = field('api_base', 'text', false, 'channels.field.api_base_hint');

function server(side: 'imap' | 'smtp'): ChannelField[] {
  const label = side === 'imap' ? 'IMAP' : 'SMTP';
  const security = side === 'imap' ? ['tls', 'plain'] : ['tls', 'starttls', 'plain'];
  return (
    [
      ['host', 'text'],
      ['port', 'number'],
      ['security', 'select'],
      ['username', 'text'],
      ['password', 'password'],
    ] as const
  ).map(([part, kind]) => ({
    name: `${side}.${part}`,
    label: `channels.field.${part}`,
    side: label,
    kind,
    required: true,
    ...(part === 'security' ? { options: security } : {}),
  }));
}

/** The fields of a kind's form, in order. */
export function channelFields(kind: ChannelFormKind): ChannelField[] {
  switch (kind) {
    case 'telegram':
      return [NAME, field('bot_token', 'password', true, 'channels.field.bot_token_hint'), API_BASE];
    case 'whatsapp':
      return [
        NAME,
        field('phone_number_id', 'text'),
        field('access_token', 'password'),
        field('app_secret', 'password'),
        field('verify_token', 'password'),
        API_BASE,
      ];
    case 'vk':
      return [
        NAME,
        field('group_id', 'number'),
        field('access_token', 'password'),
        field('secret', 'password'),
        field('confirmation', 'text'),
        API_BASE,
      ];
    case 'email':
      return [NAME, field('address', 'email'), ...server('imap'), ...server('smtp')];
  }
}

/** The form's first values: empty, but for the mail servers' usual ports and TLS. */
export function channelInitial(kind: ChannelFormKind): Values {
  const values: Values = Object.fromEntries(channelFields(kind).map((f) => [f.name, '']));
  if (kind === 'email') {
    Object.assign(values, { 'imap.port': '993', 'imap.security': 'tls', 'smtp.port': '465', 'smtp.security': 'tls' });
  }
  return values;
}

/** A value typed in a number field that is not a whole number: the field to name. */
export class NotANumber extends Error {
  constructor(readonly field: string) {
    super(field);
  }
}

function whole(values: Values, name: string): number {
  const text = String(values[name] ?? '').trim();
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new NotANumber(name);
  return Number(text);
}

/** The typed values as the API's body (the API checks the rest, naming the field). */
export function channelBody(kind: ChannelFormKind, values: Values): NewChannel {
  const text = (name: string) => String(values[name] ?? '');
  const base = text('api_base').trim() ? text('api_base').trim() : null;
  switch (kind) {
    case 'telegram':
      return { kind, name: text('name'), bot_token: text('bot_token'), api_base: base };
    case 'whatsapp':
      return {
        kind,
        name: text('name'),
        phone_number_id: text('phone_number_id').trim(),
        access_token: text('access_token'),
        app_secret: text('app_secret'),
        verify_token: text('verify_token'),
        api_base: base,
      };
    case 'vk':
      return {
        kind,
        name: text('name'),
        group_id: whole(values, 'group_id'),
        access_token: text('access_token'),
        secret: text('secret'),
        confirmation: text('confirmation'),
        api_base: base,
      };
    case 'email': {
      const mail = (side: 'imap' | 'smtp') => ({
        host: text(`${side}.host`).trim(),
        port: whole(values, `${side}.port`),
        security: text(`${side}.security`) as 'tls' | 'starttls' | 'plain',
        username: text(`${side}.username`),
        password: text(`${side}.password`),
      });
      return { kind, name: text('name'), address: text('address').trim(), imap: mail('imap'), smtp: mail('smtp') };
    }
  }
}

/**
 * The form's field an API refusal is about: the field it names, or the one a provider's
 * refusal means (`imap`: the mailbox refused its user name or password).
 */
export function channelErrorField(kind: ChannelFormKind, field: string | null): string | null {
  if (field === 'imap' && kind === 'email') return 'imap.password';
  return field;
}
