// User names for uids, from /etc/passwd: read once, without asking NSS (so LDAP or sssd users have no name).
import { readFileSync } from 'node:fs';

const DEFAULT_PASSWD_PATH = '/etc/passwd';

let passwdPath = DEFAULT_PASSWD_PATH;
let namesByUid: Map<number, string> | undefined;

/** The name /etc/passwd gives `uid`, or null when it has none (or cannot be read). */
export function userName(uid: number): string | null {
  namesByUid ??= readPasswd(passwdPath);
  return namesByUid.get(uid) ?? null;
}

/**
 * Reads names from another file from now on (null: /etc/passwd again). Forgets the names read
 * so far either way, so tests can also use it to make the next lookup read the file afresh.
 */
export function setPasswdPath(path: string | null): void {
  passwdPath = path ?? DEFAULT_PASSWD_PATH;
  namesByUid = undefined;
}

/**
 * uid → name from the text of a passwd(5) file. Lines that are not `name:password:uid:gid:…`
 * are skipped, and so are NIS compat entries (`+name`, `-name`), which name no local user.
 * The first line for a uid wins, as getpwuid() answers: a later alias (`toor` for uid 0) is
 * not the name `ls -l` or `ps` would show.
 */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const [name, , uidText, gidText] = fields;
    if (name === undefined || gidText === undefined) continue;
    if (name === '' || name.startsWith('#') || name.startsWith('+') || name.startsWith('-')) continue;
    if (!DECIMAL.test(uidText ?? '')) continue;
    const uid = Number(uidText);
    if (uid > MAX_UID || names.has(uid)) continue;
    names.set(uid, name);
  }
  return names;
}

const DECIMAL = /^\d+$/;
/** uid_t is 32 bits, and (uid_t)-1 means "no uid" to the kernel. */
const MAX_UID = 0xfffffffe;

/** A passwd file that cannot be read names nobody: names are a courtesy, never a reason to fail. */
function readPasswd(path: string): Map<number, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return new Map();
  }
  return parsePasswd(text);
}
