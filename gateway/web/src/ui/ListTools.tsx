// The tools over the dialog list: the search box and its hits (F2.1), the filter button with
// its active count and the panel (F2), the export of the list's clients (F8), and the bulk
// bar of the rows picked (F6). Keys: `/` to the search box, `x` picks the row under the cursor.

import { useEffect } from 'preact/hooks';
import { t } from '../i18n';
import { typing } from '../lib/keys';
import { activeIndex, archived, clearPicked, folder, listFilter, listVersion, pickRow, tab } from '../state';
import { BulkBar } from './BulkBar';
import { FilterButton, FilterPanel } from './FilterPanel';
import { SearchBox, SearchResults } from './SearchBox';

/** The export's address for the list as it is shown (its tab, folder, switch and filter). */
function exportHref(format: 'csv' | 'xlsx'): string {
  const params = new URLSearchParams({
    format,
    tab: tab.value,
    folder: folder.value,
    archived: String(archived.value),
  });
  if (listFilter.value) params.set('filter', JSON.stringify(listFilter.value));
  return `/v1/clients/export?${params.toString()}`;
}

function ExportMenu() {
  return (
    <details class="menu">
      <summary>{t('export.button')}</summary>
      <ul>
        <li>
          <a href={exportHref('csv')} download>
            {t('export.csv')}
          </a>
        </li>
        <li>
          <a href={exportHref('xlsx')} download>
            {t('export.xlsx')}
          </a>
        </li>
      </ul>
    </details>
  );
}

function onKey(e: KeyboardEvent): void {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  if (document.querySelector('[aria-modal="true"]')) return;
  if (e.key === 'x') {
    pickRow(activeIndex.value, false);
    e.preventDefault();
  } else if (e.key === '/') {
    document.getElementById('search-q')?.focus();
    e.preventDefault();
  }
}

export function ListTools() {
  useEffect(() => {
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  // Another tab, folder, switch or filter: the picks were of the list that was.
  const version = listVersion.value;
  useEffect(() => {
    if (version > 1) clearPicked();
  }, [version]);
  return (
    <div class="list-tools" role="group" aria-label={t('tools.label')}>
      <div class="tools-row">
        <SearchBox />
        <FilterButton />
        <ExportMenu />
      </div>
      <SearchResults />
      <FilterPanel />
      <BulkBar />
    </div>
  );
}
