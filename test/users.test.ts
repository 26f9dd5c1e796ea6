// User names from passwd text: the lines getpwuid would answer from, and a file that cannot be read.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { parsePasswd, setPasswdPath, userName } from '../lib/linux/users.js';

describe('parsePasswd', () => {
  it('maps each uid to the first name given for it', () => {
    const text = [
      'root:x:0:0:root:/root:/bin/bash',
      'toor:x:0:0:root alias:/root:/bin/sh',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      'dev.user:x:1000:1000:Dev User,,,:/home/dev.user:/bin/bash',
    ].join('\n');
    expect([...parsePasswd(text)]).toEqual([
      [0, 'root'],
      [1, 'daemon'],
      [33, 'www-data'],
      [65534, 'nobody'],
      [1000, 'dev.user'],
    ]);
  });

  it('skips comments, blank and malformed lines, and NIS compat entries', () => {
    const text = [
      '# /etc/passwd',
      '',
      '   ',
      'root:x:0:0:root:/root:/bin/bash',
      'nouid:x::1:gecos:/:/bin/sh',
      'negative:x:-5:1:gecos:/:/bin/sh',
      'hexuid:x:0x10:1:gecos:/:/bin/sh',
      'short:x:7',
      ':x:8:8:no name:/:/bin/sh',
      '+@netgroup::::::',
      '+nisuser:x:9:9:::',
      '-banned:x:10:10:::',
      'toobig:x:4294967295:1:(uid_t)-1:/:/bin/sh',
      'garbage without colons',
      'alice:x:1001:1001::/home/alice:/bin/bash',
      '',
    ].join('\n');
    expect([...parsePasswd(text)]).toEqual([
      [0, 'root'],
      [1001, 'alice'],
    ]);
  });

  it('accepts CRLF line ends and a last line without a newline', () => {
    expect([...parsePasswd('root:x:0:0:root:/root:/bin/bash\r\nbob:x:1002:1002::/home/bob:/bin/sh')]).toEqual([
      [0, 'root'],
      [1002, 'bob'],
    ]);
  });

  it('gives an empty map for empty text', () => {
    expect(parsePasswd('').size).toBe(0);
  });
});

describe('userName', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'portclash-users-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  afterEach(() => setPasswdPath(null));

  it('names uids from the file it is pointed at, and null for uids the file lacks', () => {
    const path = join(directory, 'passwd');
    writeFileSync(path, 'root:x:0:0:root:/root:/bin/bash\nsvc:x:990:990::/:/sbin/nologin\n');
    setPasswdPath(path);
    expect(userName(990)).toBe('svc');
    expect(userName(0)).toBe('root');
    expect(userName(12345)).toBeNull();
  });

  it('reads the file once, until told to read it again', () => {
    const path = join(directory, 'passwd-cached');
    writeFileSync(path, 'first:x:500:500::/:/bin/sh\n');
    setPasswdPath(path);
    expect(userName(500)).toBe('first');
    writeFileSync(path, 'second:x:500:500::/:/bin/sh\n');
    expect(userName(500)).toBe('first');
    setPasswdPath(path);
    expect(userName(500)).toBe('second');
  });

  it('gives null names, not an error, when the file is missing or unreadable', () => {
    setPasswdPath(join(directory, 'no-such-file'));
    expect(userName(0)).toBeNull();
    // a directory cannot be read as a file even by root, who reads through any mode bits
    setPasswdPath(directory);
    expect(userName(0)).toBeNull();
  });

  it.runIf(process.platform === 'linux' && process.getuid !== undefined)('names the current user as getpwuid does', () => {
    const uid = process.getuid!();
    // os.userInfo asks getpwuid (and so NSS); the two agree for users /etc/passwd holds
    expect(userName(uid)).toBe(userInfo().username);
  });
});
