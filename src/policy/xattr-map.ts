// --xattrmap: virtiofsd's rules for renaming xattrs between what the client names and what the
// host stores (Kata and crosvm keep a guest's security.* and trusted.overlay.* off the host's
// own this way). Pure: parse the rule text once, then map names; the passthrough applies it.
//
// Syntax (virtiofsd doc/xattr-mapping.md): rules follow one another, white space around them is
// ignored; a rule's FIRST character is its separator, used for the whole rule and ending it:
//   :type:scope:key:prepend:     type prefix|ok|bad|unsupported, scope client|server|all
//   :map:key:prepend:            shorthand, at most once and only as the last rule
// A client name (get/set/remove) is matched against `key` by the rules with client scope, a
// host name (listxattr) against `prepend` by those with server scope; the first match decides:
//   prefix       client: prepend + name goes to the host; server: prepend is stripped
//   ok           passes unchanged
//   bad          client: refused (EPERM; getxattr answers ENODATA); server: hidden
//   unsupported  client: refused with EOPNOTSUPP; server: hidden
// `:map:K:P:` expands to `:prefix:all:K:P:`, then (K non-empty) `:bad:all:P:K:` and `:ok:all:::`,
// or (K empty) `:bad:all:::` — prefixed names in, everything else hidden and refused.
// A name that no rule matches is a hole in the map: virtiofsd aborts on it; vfsd refuses the
// client's name (EPERM) and hides the host's, so a map with a hole fails closed.

export type XattrRuleType = 'prefix' | 'ok' | 'bad' | 'unsupported';

export interface XattrRule {
  type: XattrRuleType;
  client: boolean;
  server: boolean;
  key: Uint8Array;
  prepend: Uint8Array;
}

export interface XattrMap {
  readonly rules: readonly XattrRule[];
  /** the rules as given (for logs) */
  readonly text: string;
}

export class XattrMapError extends Error {}

const enc = new TextEncoder();
const SCOPES: Record<string, [boolean, boolean]> = { client: [true, false], server: [false, true], all: [true, true] };
const TYPES = ['prefix', 'ok', 'bad', 'unsupported', 'map'];

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

export function parseXattrMap(text: string): XattrMap {
  const rules: XattrRule[] = [];
  let i = 0;
  let n = 0;
  while (i < text.length) {
    if (isSpace(text[i])) { i++; continue; }
    n++;
    const sep = text[i++];
    const field = (what: string): string => {
      const end = text.indexOf(sep, i);
      if (end < 0) throw new XattrMapError(`rule ${n}: incomplete, ${what} is not ended by '${sep}'`);
      const v = text.slice(i, end);
      i = end + 1;
      return v;
    };
    const type = field('the type');
    if (!TYPES.includes(type)) throw new XattrMapError(`rule ${n}: invalid type '${type}' (valid: ${TYPES.join(', ')})`);
    if (type === 'map') {
      const key = enc.encode(field('the key'));
      const prepend = enc.encode(field('the prefix'));
      if (text.slice(i).trim() !== '') throw new XattrMapError(`rule ${n}: a 'map' rule must be the last rule`);
      rules.push(...expandMap(key, prepend));
      break;
    }
    const scope = field('the scope');
    const s = SCOPES[scope];
    if (!s) throw new XattrMapError(`rule ${n}: invalid scope '${scope}' (valid: client, server, all)`);
    const key = enc.encode(field('the key'));
    const prepend = enc.encode(field('the prefix'));
    rules.push({ type: type as XattrRuleType, client: s[0], server: s[1], key, prepend });
  }
  if (rules.length === 0) throw new XattrMapError('no rules given');
  return { rules, text };
}

function expandMap(key: Uint8Array, prepend: Uint8Array): XattrRule[] {
  const all = { client: true, server: true };
  const none = new Uint8Array(0);
  const out: XattrRule[] = [{ type: 'prefix', ...all, key, prepend }];
  // Host names that look like the client's own (unprefixed) are hidden, and the client may not
  // reach the prefixed names directly (else it could forge what the prefix protects).
  if (key.length > 0) out.push({ type: 'bad', ...all, key: prepend, prepend: key }, { type: 'ok', ...all, key: none, prepend: none });
  else out.push({ type: 'bad', ...all, key: none, prepend: none });
  return out;
}

function startsWith(name: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > name.length) return false;
  for (let i = 0; i < prefix.length; i++) if (name[i] !== prefix[i]) return false;
  return true;
}

export type ClientMapping =
  | { kind: 'pass'; name: Uint8Array }
  /** `bad` rule, or no rule matched */
  | { kind: 'deny' }
  | { kind: 'unsupported' };

/** The host name for a client's xattr name (get/set/remove). */
export function mapClientName(map: XattrMap, name: Uint8Array): ClientMapping {
  const rule = map.rules.find((r) => r.client && startsWith(name, r.key));
  if (!rule) return { kind: 'deny' };
  switch (rule.type) {
    case 'ok': return { kind: 'pass', name };
    case 'bad': return { kind: 'deny' };
    case 'unsupported': return { kind: 'unsupported' };
    case 'prefix': {
      const out = new Uint8Array(rule.prepend.length + name.length);
      out.set(rule.prepend, 0);
      out.set(name, rule.prepend.length);
      return { kind: 'pass', name: out };
    }
  }
}

/** The client's name for a host xattr name, or null if it is hidden. */
export function mapServerName(map: XattrMap, name: Uint8Array): Uint8Array | null {
  const rule = map.rules.find((r) => r.server && startsWith(name, r.prepend));
  if (!rule) return null;
  switch (rule.type) {
    case 'ok': return name;
    case 'bad': case 'unsupported': return null;
    case 'prefix': {
      const stripped = name.subarray(rule.prepend.length);
      // A host name that IS the prefix would become the empty name, which no client can use.
      return stripped.length > 0 ? stripped : null;
    }
  }
}

/** A listxattr result (NUL-terminated names) as the client must see it: renamed, hidden ones
 *  dropped. Returns the new list's bytes. */
export function mapServerList(map: XattrMap, list: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== 0) continue;
    if (i > start) {
      const mapped = mapServerName(map, list.subarray(start, i));
      if (mapped) { parts.push(mapped); total += mapped.length + 1; }
    }
    start = i + 1;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length + 1; }
  return out;
}
