// The browser's part of notifications (F10.1): a system notification with the message's text
// and a short tone, as `lib/notify` decides from the profile and the dialog's folders. Nothing
// while the dialog is open in a visible page (the operator is reading it).

import type { LiveMessage } from './api/types';
import { t } from './i18n';
import { alertFor } from './lib/notify';
import { openDialog, profile } from './state';

/** Asks the browser for permission (from a click: the profile's save). */
export async function askPermission(): Promise<NotificationPermission | 'unsupported'> {
  if (!('Notification' in window)) return 'unsupported';
  if (Notification.permission !== 'default') return Notification.permission;
  return Notification.requestPermission();
}

let audio: AudioContext | null = null;

function tone(): void {
  try {
    audio ??= new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  } catch {
    // No audio output: the notification alone.
  }
}

export function notifyOf(data: LiveMessage): void {
  if (openDialog.value === data.row.dialog && document.visibilityState === 'visible') return;
  const title = data.row.title ?? t('card.number', { n: data.row.client.number });
  const alert = alertFor(profile.value, data.folders, title, data.messages, t('author.attachment'));
  if (!alert) return;
  if ('Notification' in window && Notification.permission === 'granted') {
    const shown = new Notification(alert.title, { body: alert.body, tag: data.row.dialog });
    shown.onclick = () => {
      window.focus();
      window.location.assign(`/dialogs/${data.row.dialog}`);
    };
  }
  if (alert.sound) tone();
}
