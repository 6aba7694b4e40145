// The assessment card of the declaration page: each line's tariff line,
// customs value, duty, excise and VAT with the preference and the
// certificate of origin that proves it, the totals, the balance (paid,
// guaranteed, outstanding, releasable), payments, refunds and versions, and
// for officers the valuation control and the re-assessment.
import { api } from './api.js';
import { h, fill, empty, errorBox, loading, dl, announce } from './dom.js';
import { money, when, sentence } from './format.js';

const PAYMENTS_PAGE = 50;

const DUTY_TYPES = { ad_valorem: 'ad valorem', specific: 'specific', compound: 'compound', max_of: 'the higher of', min_of: 'the lower of' };

function rateOf(line) {
  if (!line) return '—';
  const av = line.ad_valorem_pct !== null && line.ad_valorem_pct !== undefined ? `${line.ad_valorem_pct} %` : null;
  const sp = line.specific_amount !== null && line.specific_amount !== undefined ? `${line.specific_amount} per ${line.specific_unit}` : null;
  const parts = [av, sp].filter(Boolean).join(line.duty_type === 'compound' ? ' + ' : ' or ');
  return `${DUTY_TYPES[line.duty_type] || line.duty_type} ${parts}`.trim();
}

function preferenceOf(p) {
  if (!p) return null;
  const cert = p.certificate ? ` — certificate ${p.certificate.issuer}/${p.certificate.number}` : '';
  return h('p', { class: ['pref', p.applied ? 'pref-applied' : 'pref-refused'], 'data-testid': 'preference' },
    h('strong', null, p.applied ? `Preference ${p.origin}: ${p.ad_valorem_pct} %` : `No preference (${p.origin})`),
    cert, h('br'), sentence(p.reason));
}

function linesOf(a) {
  const cur = a.currency;
  const rows = (a.items || []).map((it, i) => h('tr', null,
    h('td', null, String(i + 1)),
    h('td', null, it.tariff_line ? it.tariff_line.hs_code : h('span', { class: 'warn' }, 'no line'),
      h('div', { class: 'hint' }, rateOf(it.tariff_line)),
      it.duty_rule === 'wto_moratorium' ? h('p', { class: 'pref', 'data-testid': 'moratorium' },
        h('strong', null, 'Electronic transmission'), h('br'), 'No customs duty (WTO moratorium); excise and VAT as the line says.') : null,
      preferenceOf(it.preference)),
    h('td', { class: 'num' }, money(it.customs_value, cur)),
    h('td', { class: 'num' }, money(it.duty, cur)),
    h('td', { class: 'num' }, money(it.excise, cur)),
    h('td', { class: 'num' }, money(it.vat, cur))));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'lines' },
    h('thead', null, h('tr', null, ...['#', 'Tariff line', 'Customs value', 'Duty', 'Excise', 'VAT'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, ...rows),
    h('tfoot', null, h('tr', null, h('th', { scope: 'row', colspan: '3' }, 'Total ' + money(a.total, cur)),
      h('td', { class: 'num' }, money(a.total_duty, cur)), h('td', { class: 'num' }, money(a.total_excise, cur)),
      h('td', { class: 'num' }, money(a.total_vat, cur))))));
}

function balanceOf(b) {
  const cur = b.currency;
  return [
    h('p', { class: ['balance', b.releasable ? 'ok' : 'due'], 'data-testid': 'balance' },
      b.releasable ? 'Paid or guaranteed: may be released.' : `Outstanding ${money(b.shortfall, cur)}: release needs payment or a guarantee.`),
    dl([['Assessed', money(b.assessed, cur)], ['Paid', money(b.paid, cur)], ['Refunded', b.refunded ? money(b.refunded, cur) : null],
      ['Guaranteed', b.guaranteed ? money(b.guaranteed, cur) : null], ['Outstanding', money(b.outstanding, cur)]]),
  ];
}

function listOf(title, items, row) {
  if (!items || !items.length) return null;
  return [h('h3', null, title), h('ul', { class: 'plain' }, ...items.map((x) => h('li', null, row(x))))];
}

function findingsOf(a) {
  const f = [...(a.findings || []), ...(a.problems || []).map((p) => ({ rule: 'problem', message: `${p.path}: ${p.message}` }))];
  return listOf('Findings', f, (x) => [h('strong', null, x.rule.replace(/_/g, ' ')), ' — ', sentence(x.message)]);
}

function reassessForm(id, reload) {
  const reason = h('input', { id: 'reassess-reason', name: 'reason', maxlength: '500', placeholder: 'why (e.g. tariff line added)' });
  const status = h('div', { class: 'form-status' });
  const button = h('button', { type: 'submit' }, 'Re-assess');
  return h('form', { class: 'inline', on: { submit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      await api(`/v1/declarations/${encodeURIComponent(id)}/assessment`, { method: 'POST', body });
      announce('Re-assessed');
      await reload();
    } catch (err) {
      status.append(errorBox(err, 'The declaration could not be re-assessed'));
      button.disabled = false;
    }
  } } }, h('label', { for: 'reassess-reason' }, 'Re-assess with today’s tariff and rates'), reason, button, status);
}

function payoutForm(refund, reload) {
  const id = `payout-ref-${refund.id}`;
  const reference = h('input', { id, name: 'reference', required: true, maxlength: '64', placeholder: 'payment order reference' });
  const status = h('div', { class: 'form-status' });
  const button = h('button', { type: 'submit' }, 'Record payout');
  return h('form', { class: 'inline', on: { submit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      const paidAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await api(`/v1/refunds/${refund.id}/payout`, { method: 'POST', body: { reference: reference.value.trim(), paid_at: paidAt } });
      announce('Refund paid out');
      await reload();
    } catch (err) {
      status.append(errorBox(err, 'The payout could not be recorded'));
      button.disabled = false;
    }
  } } }, h('label', { for: id }, 'Paid out today under reference'), reference, button, status);
}

// The declaration's payments, oldest first, a page at a time through the
// route's cursor: "More payments" appends the next page until none is left.
function paymentsOf(enc, first, cur, signal) {
  if (!first || !first.items.length) return null;
  const list = h('ul', { class: 'plain', 'data-testid': 'payments' });
  const more = h('div');
  const show = (page) => {
    for (const p of page.items) list.append(h('li', null, `${money(p.amount, p.currency)} (${money(p.amount_national, cur)}) by ${p.payer}, ref. ${p.reference}, ${when(p.paid_at)}`));
    const button = h('button', { type: 'button', on: { click: async () => {
      button.disabled = true;
      try {
        show(await api(`/v1/declarations/${enc}/payments?limit=${PAYMENTS_PAGE}&cursor=${encodeURIComponent(page.next_cursor)}`, { signal }));
      } catch (err) {
        if (err.name !== 'AbortError') fill(more, errorBox(err, 'The next payments could not be loaded'));
      }
    } } }, 'More payments');
    fill(more, page.next_cursor ? [h('p', { class: 'hint' }, `Showing the first ${list.children.length}.`), button] : null);
  };
  show(first);
  return [h('h3', null, 'Payments'), list, more];
}

function refundOf(r, cur, officer, reload) {
  const what = `${money(r.amount, cur)} from version ${r.from_version} to ${r.to_version}`;
  if (r.payout) return `${what}: paid out by ${r.payout.by}, ref. ${r.payout.reference}, ${when(r.payout.paid_at)}`;
  return [`${what}: due`, officer ? payoutForm(r, reload) : null];
}

/** Fills el with the assessment of declaration id; officer: see the control and re-assess. */
export async function assessmentCard(el, id, officer, signal) {
  const enc = encodeURIComponent(id);
  const reload = async () => {
    fill(el, loading());
    let a, pays;
    try {
      [a, pays] = await Promise.all([api(`/v1/declarations/${enc}/assessment`, { signal }),
        api(`/v1/declarations/${enc}/payments?limit=${PAYMENTS_PAGE}`, { signal }).catch(() => null)]);
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(el, err.status === 404 ? empty('Not assessed: the declaration was lodged while no national currency was set, or it is history.') : errorBox(err, 'The assessment could not be loaded'));
      return;
    }
    const as = a.assessment;
    const cur = as.currency;
    fill(el,
      h('p', { class: 'lead', 'data-testid': 'assessed-total' }, `${money(as.total, cur)} assessed (version ${as.version}, ${when(as.assessed_at)})`),
      balanceOf(a.balance),
      linesOf(as),
      officer && as.revenue_at_risk ? h('p', { class: 'warn' }, `Valuation control: ${money(as.revenue_at_risk, cur)} revenue at risk.`) : null,
      findingsOf(as),
      paymentsOf(enc, pays, cur, signal),
      listOf('Refunds', a.refunds, (r) => refundOf(r, cur, officer, reload)),
      a.versions && a.versions.length > 1 ? listOf('Versions', a.versions, (v) => `${v.version}: ${v.reason}${v.by ? ' by ' + v.by : ''}, ${when(v.at)}`) : null,
      officer ? reassessForm(id, reload) : null);
  };
  await reload();
  return reload;
}
