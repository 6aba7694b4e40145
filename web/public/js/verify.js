// Checking the ledger in the browser with WebCrypto: RFC 6962 / 9162 Merkle
// inclusion proofs (SHA-256), C2SP signed-note checkpoints cosigned with
// Ed25519, entry signatures over the RFC 8785 (JCS) canonical form, and
// disclosure bundles — the same checks as `customs ledger verify-bundle`
// (docs/ledger.md), with nothing but public keys.

const enc = new TextEncoder();

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function unhex(s) {
  if (typeof s !== 'string' || s.length % 2 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error('not a hex string');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

export function unb64(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error('not base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function concat(...parts) {
  const arrs = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p instanceof Uint8Array ? p : Uint8Array.of(...p)));
  const out = new Uint8Array(arrs.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrs) { out.set(a, o); o += a.length; }
  return out;
}

export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** RFC 6962 leaf hash: SHA-256(0x00 || data). */
export const leafHash = (data) => sha256([0], data);
const nodeHash = (l, r) => sha256([1], l, r);

/**
 * Root reached from a leaf by an inclusion proof (RFC 9162 §2.1.3.2), or an
 * Error saying why the proof cannot be followed.
 */
export async function rootFromInclusion(index, size, leaf, path) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new Error(`index ${index} is not inside a tree of size ${size}`);
  }
  let fn = index, sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) throw new Error('the audit path is longer than the tree is deep');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the audit path is shorter than the tree is deep');
  return r;
}

/** RFC 8785 canonical JSON (members sorted by UTF-16 code units). */
export function jcs(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('JSON numbers must be finite');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
  }
  throw new Error('not a JSON value');
}

const keyCache = new Map();
async function edKey(pub) {
  const k = typeof pub === 'string' ? pub : hex(pub);
  if (!keyCache.has(k)) {
    const raw = typeof pub === 'string' ? unb64(pub) : pub;
    if (raw.length !== 32) throw new Error('an Ed25519 public key has 32 bytes');
    keyCache.set(k, crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']));
  }
  return keyCache.get(k);
}

export async function edVerify(pub, sig, msg) {
  if (sig.length !== 64) return false;
  try {
    return await crypto.subtle.verify({ name: 'Ed25519' }, await edKey(pub), sig, msg);
  } catch (e) {
    if (e && e.name === 'NotSupportedError') throw new Error('this browser cannot check Ed25519 signatures (WebCrypto)');
    return false;
  }
}

/** The signing hash of an entry: SHA-256("customs.ledger.entry.v1" || 0x00 || JCS(entry without signatures)). */
export async function signingHash(entry) {
  const { signatures, ...unsigned } = entry;
  return sha256('customs.ledger.entry.v1', [0], jcs(unsigned));
}

/** Field commitment: SHA-256("customs.ledger.field.v1" || 0x00 || salt || name || 0x00 || JCS(value)), hex. */
export async function commitment(name, value, salt) {
  return hex(await sha256('customs.ledger.field.v1', [0], salt, name, [0], jcs(value)));
}

/** C2SP signed note → {text (the signed lines), origin, size, root (bytes), sigs:[{name, keyId, sig}]}. */
export function parseNote(note) {
  if (typeof note !== 'string') throw new Error('the checkpoint is not text');
  const sep = note.indexOf('\n\n');
  if (sep < 0) throw new Error('the checkpoint has no signature lines');
  const text = note.slice(0, sep + 1);
  const lines = text.split('\n');
  if (lines.length < 4) throw new Error('a checkpoint has an origin, a size and a root');
  const size = Number(lines[1]);
  if (!/^[0-9]+$/.test(lines[1]) || !Number.isSafeInteger(size)) throw new Error('the checkpoint size is not a number');
  const root = unb64(lines[2]);
  if (root.length !== 32) throw new Error('the checkpoint root is not a SHA-256 hash');
  const sigs = [];
  for (const line of note.slice(sep + 2).split('\n')) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('a signature line of the checkpoint is malformed');
    const blob = unb64(m[2]);
    if (blob.length < 5) throw new Error('a checkpoint signature is too short');
    sigs.push({ name: m[1], keyId: blob.slice(0, 4), sig: blob.slice(4) });
  }
  return { text, origin: lines[0], size, root, sigs };
}

/** C2SP key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]. */
export async function noteKeyId(name, pub) {
  return (await sha256(name, [0x0a, 0x01], unb64(pub))).slice(0, 4);
}

/**
 * Checks the note's cosignatures with trusted keys ({org: [base64 keys]}).
 * Returns {valid: [org], bad: [org], unknown: [name]}: a trusted key with a
 * bad signature is bad; signatures by keys we do not know are ignored (C2SP).
 */
export async function checkCosignatures(note, trusted) {
  const out = { valid: [], bad: [], unknown: [] };
  for (const s of note.sigs) {
    let matched = false;
    for (const pub of trusted[s.name] || []) {
      if (!equal(await noteKeyId(s.name, pub), s.keyId)) continue;
      matched = true;
      const ok = await edVerify(pub, s.sig, enc.encode(note.text));
      (ok ? out.valid : out.bad).push(s.name);
      break;
    }
    if (!matched) out.unknown.push(s.name);
  }
  out.valid = [...new Set(out.valid)];
  return out;
}

/** Trust file ({origin, checkpoint_quorum, members:[{org, keys}]}) → {org: keys}. */
export function trustedKeys(trust) {
  const t = {};
  for (const m of (trust && trust.members) || []) t[m.org] = (m.keys || []).slice();
  return t;
}

/** Checks every signature of an entry; returns {ok, lines:[sentences], signers:[org]}. */
export async function checkEntrySignatures(entry, trusted) {
  const lines = [];
  const signers = [];
  const sh = await signingHash(entry);
  let ok = true;
  for (const s of entry.signatures || []) {
    const keys = trusted[s.org] || [];
    if (!keys.includes(s.key)) { ok = false; lines.push(`the signature of ${s.org} is by a key the trust list does not hold for ${s.org}`); continue; }
    let good = false;
    try { good = await edVerify(s.key, unb64(s.sig), sh); } catch (e) { if (/WebCrypto/.test(e.message)) throw e; }
    if (good) signers.push(s.org); else { ok = false; lines.push(`the signature of ${s.org} does not verify: the entry changed after it was signed`); }
  }
  if (!signers.includes(entry.org)) { ok = false; lines.push(`the author ${entry.org} has not signed it`); }
  return { ok, lines, signers };
}

/**
 * The steps of checking a log entry against a cosigned checkpoint. Each step
 * is {label, ok, detail}; a failed step stops the rest.
 *   a: {index, leaf_hash, canonical, entry, proof:{tree_size, audit_path}, checkpoint:{note, …}}
 *   trust: trust file; expect: optional (entry) => [ok, sentence]
 */
export async function checkEntryInLog(a, trust, expect) {
  const steps = [];
  const step = (label, ok, detail) => { steps.push({ label, ok, detail }); return ok; };
  const trusted = trustedKeys(trust);
  try {
    let entry;
    try { entry = JSON.parse(a.canonical); } catch { return done(step('The entry is JSON', false, 'the canonical entry does not parse')); }
    if (!step('The entry is in canonical form (RFC 8785)', jcs(entry) === a.canonical,
      'the text differs from its canonical form')) return done();
    if (expect) {
      const [ok, why] = expect(entry);
      if (!step('The entry is the one expected', ok, why)) return done();
    }
    const leaf = await leafHash(a.canonical);
    // (a bundle carries no separate leaf hash: the proof alone ties the entry to the root)
    if (a.leaf_hash != null && !step('Leaf hash SHA-256(0x00 ‖ entry) matches the log', hex(leaf) === String(a.leaf_hash).toLowerCase(),
      `computed ${hex(leaf).slice(0, 16)}…, the log says ${String(a.leaf_hash).slice(0, 16)}…`)) return done();
    const sigs = await checkEntrySignatures(entry, trusted);
    if (!step(`Entry signatures verify (${sigs.signers.join(', ') || 'none'})`, sigs.ok, sigs.lines.join('; '))) return done();
    if (!a.checkpoint) return done(step('A cosigned checkpoint exists', false, 'the ledger has no cosigned checkpoint yet'));
    if (!a.proof) return done(step('The checkpoint covers the entry', false, `the latest checkpoint (size ${a.checkpoint.tree_size}) does not cover entry ${a.index} yet`));
    const note = parseNote(a.checkpoint.note);
    if (trust && trust.origin && !step('The checkpoint is for this log', note.origin === trust.origin,
      `the checkpoint is for ${note.origin}, the trust list for ${trust.origin}`)) return done();
    const quorum = Math.max(1, Number(trust && trust.checkpoint_quorum) || 2);
    const cos = await checkCosignatures(note, trusted);
    if (!step(`Checkpoint cosigned by ${cos.valid.length} trusted members (${cos.valid.join(', ') || 'none'}; ${quorum} needed)`,
      cos.bad.length === 0 && cos.valid.length >= quorum,
      cos.bad.length ? `the cosignature of ${cos.bad.join(', ')} does not verify` : `only ${cos.valid.length} of the ${quorum} cosignatures needed verify`)) return done();
    if (!step(`The proof is for the checkpoint's tree (size ${note.size})`, Number(a.proof.tree_size) === note.size,
      `the proof is for a tree of size ${a.proof.tree_size}`)) return done();
    let path;
    try { path = (a.proof.audit_path || []).map(unhex); } catch { return done(step('The audit path is hex', false, 'a hash of the audit path is not hex')); }
    if (path.some((p) => p.length !== 32)) return done(step('The audit path holds SHA-256 hashes', false, 'a hash of the audit path is not 32 bytes'));
    let root;
    try { root = await rootFromInclusion(Number(a.index), note.size, leaf, path); } catch (e) {
      return done(step('The inclusion proof can be followed', false, e.message));
    }
    step(`Inclusion proof (${path.length} hashes) leads to the cosigned root`, equal(root, note.root),
      `the proof leads to ${hex(root).slice(0, 16)}…, the checkpoint's root is ${hex(note.root).slice(0, 16)}…`);
    return done();
  } catch (e) {
    return done(step('The check could run', false, e.message));
  }
  function done() { return { ok: steps.length > 0 && steps.every((s) => s.ok), steps }; }
}

/** A disclosure bundle (docs/ledger.md) checked against a trust file. */
export async function checkBundle(bundle, trust) {
  if (!bundle || bundle.format !== 'customs-ledger-bundle/v1') {
    return { ok: false, steps: [{ label: 'The file is a disclosure bundle', ok: false, detail: 'its format is not customs-ledger-bundle/v1' }], disclosed: [] };
  }
  let entry = null;
  try { entry = JSON.parse(bundle.entry); } catch { /* reported below */ }
  const res = await checkEntryInLog({
    index: bundle.index, canonical: bundle.entry, leaf_hash: null,
    proof: bundle.proof, checkpoint: { note: bundle.checkpoint, tree_size: bundle.proof && bundle.proof.tree_size },
  }, trust, null).catch((e) => ({ ok: false, steps: [{ label: 'The check could run', ok: false, detail: e.message }] }));
  const steps = res.steps;
  if (bundle.origin && trust && trust.origin && bundle.origin !== trust.origin) {
    steps.unshift({ label: 'The bundle is for the trusted log', ok: false, detail: `bundle for ${bundle.origin}, trust list for ${trust.origin}` });
  }
  const disclosed = [];
  if (entry && steps.every((s) => s.ok)) {
    for (const d of bundle.disclosed || []) {
      let want = null;
      if (entry.body && entry.body.fields && typeof entry.body.fields === 'object') want = entry.body.fields[d.name];
      const pm = /^\/parcels\/([0-9]+)$/.exec(d.name || '');
      if (want == null && pm && entry.body && Array.isArray(entry.body.parcels)) want = entry.body.parcels[Number(pm[1])];
      let ok = false, detail = '';
      if (typeof want !== 'string') detail = 'the entry has no commitment for this field';
      else {
        try {
          ok = (await commitment(d.name, d.value, unb64(d.salt))) === want.toLowerCase();
          if (!ok) detail = 'the value and salt do not reproduce the commitment on the log';
        } catch (e) { detail = e.message; }
      }
      disclosed.push({ name: d.name, value: d.value, ok, detail });
    }
    steps.push({ label: `Disclosed fields match their commitments (${disclosed.filter((d) => d.ok).length} of ${disclosed.length})`,
      ok: disclosed.length > 0 && disclosed.every((d) => d.ok),
      detail: disclosed.length ? disclosed.filter((d) => !d.ok).map((d) => `${d.name}: ${d.detail}`).join('; ') : 'the bundle discloses no field' });
  }
  return { ok: steps.length > 0 && steps.every((s) => s.ok), steps, disclosed, entry };
}
