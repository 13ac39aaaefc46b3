// A dialog row's tags (F1.2/F2.5): the first few names, each marked with its colour.
import { project } from '../state';

const SHOWN = 2;

export function RowTags({ tags }: { tags: readonly string[] | undefined }) {
  if (!tags?.length) return null;
  const known = project.value?.tags ?? [];
  const named = tags.map((id) => known.find((x) => x.tag === id)).filter((x) => x !== undefined);
  if (!named.length) return null;
  const more = named.length - SHOWN;
  return (
    <span class="row-tags">
      {named.slice(0, SHOWN).map((tag) => (
        <span key={tag.tag} class="row-tag" style={{ borderColor: tag.color }}>
          {tag.name}
        </span>
      ))}
      {more > 0 && <span class="row-tag">+{more}</span>}
    </span>
  );
}
