// F10.1 with the profile's switches: whether a client's new message makes a browser
// notification and a sound. A dialog in custom folders follows their switches (any folder
// with push on pushes, any with sound on sounds); one in none of them follows the person's
// own switches alone. Pure, so that it is unit-tested; `notifier.ts` does the browser's part.

export interface Switches {
  notifications: boolean;
  sound: boolean;
}

export interface FolderSwitches {
  push: boolean;
  sound: boolean;
}

export interface Alert {
  title: string;
  body: string;
  sound: boolean;
}

/** The alert for `messages` of a dialog, or none. */
export function alertFor(
  me: Switches | null,
  folders: readonly FolderSwitches[],
  title: string,
  messages: readonly { text: string; truncated: boolean; attachments: number }[],
  attachmentLabel: string,
): Alert | null {
  if (!me?.notifications || messages.length === 0) return null;
  const push = folders.length === 0 || folders.some((f) => f.push);
  if (!push) return null;
  const last = messages[messages.length - 1]!;
  const text = last.text.trim() ? `${last.text}${last.truncated ? '…' : ''}` : last.attachments > 0 ? attachmentLabel : '';
  const more = messages.length > 1 ? ` (+${messages.length - 1})` : '';
  return {
    title: title + more,
    body: text,
    sound: me.sound && (folders.length === 0 || folders.some((f) => f.sound)),
  };
}
