// The watchlists, summed up from the subjects (the server keeps no list of
// its own): how many subjects and templates each holds, and the soonest
// expiry. Shared by the Identify page and #/biometrics.
import { api } from './api.js';

const PAGES = 20; // at most 20,000 subjects are read for the summary

/** [{name, subjects, templates, expires (the soonest, or null), agencies}], by name. */
export async function watchlistSummary(signal) {
  const by = new Map();
  let cursor = '';
  for (let i = 0; i < PAGES; i++) {
    const page = await api(`/v1/biometrics/subjects?limit=1000${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`, { signal });
    for (const s of page.items) {
      if (!s.watchlist) continue;
      const w = by.get(s.watchlist) || { name: s.watchlist, subjects: 0, templates: 0, expires: null, agencies: new Set() };
      w.subjects++;
      w.templates += s.templates || 0;
      if (s.expires && (!w.expires || Date.parse(s.expires) < Date.parse(w.expires))) w.expires = s.expires;
      if (s.source_agency) w.agencies.add(s.source_agency);
      by.set(s.watchlist, w);
    }
    if (!page.next_cursor) break;
    cursor = String(page.next_cursor);
  }
  return [...by.values()].sort((a, b) => a.name.localeCompare(b.name))
    .map((w) => ({ ...w, agencies: [...w.agencies].sort() }));
}
