// The project's names of ids (operators, tags, lists, folders, stages, channels), as the
// timeline's service entries and a dialog's history put them in words.
import type { Names } from '../lib/audit';
import { channelOf, operatorName, project } from '../state';

export function projectNames(): Names {
  const p = project.value;
  const stages = (p?.pipelines ?? []).flatMap((x) => x.stages);
  return {
    operator: operatorName,
    tag: (id) => p?.tags.find((x) => x.tag === id)?.name ?? null,
    stage: (id) => stages.find((x) => x.id === id)?.name ?? null,
    list: (id) => p?.lists.find((x) => x.id === id)?.name ?? null,
    folder: (id) => p?.folders.find((x) => x.folder === id)?.name ?? null,
    channel: (id) => channelOf(id)?.name ?? null,
  };
}
