// The small mark of a channel's kind on an avatar (F1.2): a coloured disc with a letter.
const KINDS: Record<string, { letter: string; color: string }> = {
  telegram: { letter: 'T', color: '#1b7fc4' },
  whatsapp: { letter: 'W', color: '#157a3b' },
  vk: { letter: 'V', color: '#2d5f9a' },
  email: { letter: '@', color: '#6b4ea8' },
};

export function ChannelIcon({ kind }: { kind: string }) {
  const known = KINDS[kind.toLowerCase()] ?? { letter: kind.slice(0, 1).toUpperCase(), color: '#555' };
  return (
    <span class="channel-icon" style={{ background: known.color }} title={kind}>
      {known.letter}
    </span>
  );
}
