// uid/gid translation between the guest and the host (--translate-uid / --translate-gid), with
// the Rust virtiofsd's rules, so a VM manager can pass the same options to vfsd:
//
//   map:<guest-base>:<host-base>:<count>           1:1, both directions
//   guest:<guest-base>:<host-base>:<count>         1:1, guest -> host only
//   host:<host-base>:<guest-base>:<count>          1:1, host -> guest only
//   squash-guest:<guest-base>:<host-id>:<count>    n:1, guest -> host
//   squash-host:<host-base>:<guest-id>:<count>     n:1, host -> guest
//   forbid-guest:<guest-base>:<count>              guest ids refused (EPERM)
//
// The last number is always a COUNT, never a last id: a range is [base, base + count). The two
// directions are separate tables; within one direction no two rules may share an id (an error
// at startup, naming both rules). An id that no rule covers passes unchanged, in both directions
// (virtiofsd does the same): to allow only some guest ids, the rest must be forbidden
// explicitly. 4294967295 is (uid_t)-1, "no id": no range may reach it and no rule may produce it
// (a hostile guest must not be able to turn a chown into "leave unchanged", or the reverse).
//
// Where virtiofsd is looser we refuse at startup instead of guessing: a forbid-guest count that
// runs past the last id is an error here (virtiofsd adds without checking, and a wrapped range
// silently forbids nothing: the pitfall of virtiofsd issue #198), and so is a 1:1 rule whose
// target range runs past it.
//
// Pure: no I/O. The tables are tiny and sorted; a lookup is a binary search.

/** (uid_t)-1: the kernel's "no id" (chown leaves the field unchanged; FUSE's unmapped caller). */
export const NO_ID = 0xffffffff;
/** The largest real id. */
export const MAX_ID = 0xfffffffe;
/** What toHost() answers for a forbidden guest id. */
export const FORBIDDEN = -1;

export type IdRuleKind = 'map' | 'guest' | 'host' | 'squash-guest' | 'squash-host' | 'forbid-guest';
const KINDS: readonly IdRuleKind[] = ['map', 'guest', 'host', 'squash-guest', 'squash-host', 'forbid-guest'];

/** One --translate-uid/--translate-gid value, parsed (numbers in the order they were written). */
export interface IdRule {
  kind: IdRuleKind;
  /** the source range's base: the guest base, or the host base for host/squash-host */
  from: number;
  /** the target base (1:1 kinds) or the single target id (squash kinds); 0 for forbid-guest */
  to: number;
  count: number;
  /** the value as given, for messages and the startup log */
  text: string;
}

/** A bad value or a conflict; the message is one line, ready for a usage error. */
export class IdMapError extends Error {}

const FIELDS: Record<IdRuleKind, string> = {
  'map': '<guest-base>:<host-base>:<count>',
  'guest': '<guest-base>:<host-base>:<count>',
  'host': '<host-base>:<guest-base>:<count>',
  'squash-guest': '<guest-base>:<host-id>:<count>',
  'squash-host': '<host-base>:<guest-id>:<count>',
  'forbid-guest': '<guest-base>:<count>',
};

/**
 * Parses one value. Like virtiofsd, the type is case-insensitive and the separator is whatever
 * character follows it (normally ':'), the same for every field.
 */
export function parseIdRule(text: string): IdRule {
  const m = /^([A-Za-z0-9_-]*)(.?)/.exec(text)!;
  const kind = m[1].toLowerCase() as IdRuleKind;
  if (!KINDS.includes(kind)) {
    throw new IdMapError(`'${text}': unknown type '${m[1]}' (valid: ${KINDS.join(', ')})`);
  }
  const sep = m[2];
  const fields = sep ? text.slice(m[0].length).split(sep) : [];
  const want = kind === 'forbid-guest' ? 2 : 3;
  if (fields.length !== want) {
    throw new IdMapError(`'${text}': expected ${kind}:${FIELDS[kind]} (${want} numbers, got ${fields.length})`);
  }
  const nums = fields.map((f) => {
    if (!/^[0-9]+$/.test(f) || Number(f) > NO_ID) throw new IdMapError(`'${text}': '${f}' is not a number from 0 to ${NO_ID}`);
    return Number(f);
  });
  const rule: IdRule = want === 2
    ? { kind, from: nums[0], to: 0, count: nums[1], text }
    : { kind, from: nums[0], to: nums[1], count: nums[2], text };
  checkBounds(rule);
  return rule;
}

function checkBounds(r: IdRule): void {
  const [src, dst] = r.kind === 'host' || r.kind === 'squash-host' ? ['host', 'guest'] : ['guest', 'host'];
  if (r.from + r.count > NO_ID) {
    const fit = NO_ID - r.from;
    throw new IdMapError(`'${r.text}': ${src} ids ${r.from} + count ${r.count} run past ${MAX_ID}, the last id (the last number is a count; ${fit > 0 ? `at most ${fit} here` : `${r.from} is not an id`})`);
  }
  if (r.count === 0) return;
  if ((r.kind === 'map' || r.kind === 'guest' || r.kind === 'host') && r.to + r.count > NO_ID) {
    throw new IdMapError(`'${r.text}': ${dst} ids ${r.to} + count ${r.count} run past ${MAX_ID}, the last id`);
  }
  if ((r.kind === 'squash-guest' || r.kind === 'squash-host') && r.to === NO_ID) {
    throw new IdMapError(`'${r.text}': ${NO_ID} is (uid_t)-1, not an id`);
  }
}

const RANGE = 0, SQUASH = 1, FAIL = 2;

/** One direction: disjoint [start, end) ranges sorted by start, each with what it does. */
class RangeTable {
  private starts: number[] = [];
  private ends: number[] = [];
  private actions: number[] = [];
  private targets: number[] = [];
  private rules: IdRule[] = [];

  get size(): number {
    return this.starts.length;
  }

  add(start: number, count: number, action: number, target: number, rule: IdRule, direction: string): void {
    if (count === 0) return; // an empty range translates nothing (virtiofsd accepts it too)
    const end = start + count;
    let i = 0;
    while (i < this.starts.length && this.starts[i] < start) i++;
    // The only candidates for an intersection are the neighbours in start order.
    for (const j of [i - 1, i]) {
      if (j < 0 || j >= this.starts.length) continue;
      if (this.starts[j] < end && start < this.ends[j]) {
        const shared = Math.max(start, this.starts[j]);
        throw new IdMapError(`'${rule.text}' and '${this.rules[j].text}' both translate ${direction} id ${shared} (rules of one direction must not intersect)`);
      }
    }
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, end);
    this.actions.splice(i, 0, action);
    this.targets.splice(i, 0, target);
    this.rules.splice(i, 0, rule);
  }

  /** The translated id, FORBIDDEN, or id itself when no rule covers it. */
  lookup(id: number): number {
    const starts = this.starts;
    let lo = 0, hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] > id) hi = mid - 1;
      else if (this.ends[mid] <= id) lo = mid + 1;
      else {
        const a = this.actions[mid];
        return a === RANGE ? this.targets[mid] + (id - starts[mid]) : a === SQUASH ? this.targets[mid] : FORBIDDEN;
      }
    }
    return id;
  }
}

/** The translation of one kind of id (uids, or gids), both directions. */
export class IdMap {
  private readonly toHostTable = new RangeTable();
  private readonly toGuestTable = new RangeTable();

  /** Builds the tables; throws IdMapError when two rules of one direction intersect. */
  constructor(rules: readonly IdRule[]) {
    for (const r of rules) {
      switch (r.kind) {
        case 'map':
          this.toHostTable.add(r.from, r.count, RANGE, r.to, r, 'guest');
          this.toGuestTable.add(r.to, r.count, RANGE, r.from, r, 'host');
          break;
        case 'guest': this.toHostTable.add(r.from, r.count, RANGE, r.to, r, 'guest'); break;
        case 'host': this.toGuestTable.add(r.from, r.count, RANGE, r.to, r, 'host'); break;
        case 'squash-guest': this.toHostTable.add(r.from, r.count, SQUASH, r.to, r, 'guest'); break;
        case 'squash-host': this.toGuestTable.add(r.from, r.count, SQUASH, r.to, r, 'host'); break;
        case 'forbid-guest': this.toHostTable.add(r.from, r.count, FAIL, 0, r, 'guest'); break;
      }
    }
  }

  /** No rule at all: every id passes unchanged both ways. */
  get empty(): boolean {
    return this.toHostTable.size === 0 && this.toGuestTable.size === 0;
  }

  /** A guest id (a caller, a chown target) as the host id to use, or FORBIDDEN. */
  toHost(guestId: number): number {
    return this.toHostTable.lookup(guestId);
  }

  /** A host id (a file's owner) as the guest sees it. */
  toGuest(hostId: number): number {
    return this.toGuestTable.lookup(hostId);
  }
}

/** uid and gid translation together, as the filesystem uses it. */
export interface IdTranslation {
  uid: IdMap;
  gid: IdMap;
}

/** The owner a client sees for a host uid / gid: translated, or as it is without rules (null). */
export const guestUid = (t: IdTranslation | null | undefined, uid: number): number => (t ? t.uid.toGuest(uid) : uid);
export const guestGid = (t: IdTranslation | null | undefined, gid: number): number => (t ? t.gid.toGuest(gid) : gid);

/**
 * The translation for these rules, or null when there are none (the hot paths then skip it with
 * one null check). Throws IdMapError for intersecting rules; the message names the option.
 */
export function buildIdTranslation(uidRules: readonly IdRule[], gidRules: readonly IdRule[]): IdTranslation | null {
  const build = (rules: readonly IdRule[], opt: string): IdMap => {
    try {
      return new IdMap(rules);
    } catch (e) {
      if (e instanceof IdMapError) throw new IdMapError(`${opt}: ${e.message}`);
      throw e;
    }
  };
  const uid = build(uidRules, '--translate-uid');
  const gid = build(gidRules, '--translate-gid');
  return uid.empty && gid.empty ? null : { uid, gid };
}

const ACL_ACCESS = Buffer.from('system.posix_acl_access');
const ACL_DEFAULT = Buffer.from('system.posix_acl_default');

/**
 * POSIX ACL xattrs carry uids and gids inside their values. virtiofsd does not translate them
 * (--translate-* and --posix-acl exclude each other; without --posix-acl it refuses these names
 * with ENOTSUP); with a translation we refuse them likewise, so a guest can neither read host ids
 * nor write untranslated ones through an ACL.
 */
export function isIdCarryingXattr(name: Uint8Array): boolean {
  return Buffer.compare(name, ACL_ACCESS) === 0 || Buffer.compare(name, ACL_DEFAULT) === 0;
}
