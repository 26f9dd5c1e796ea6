// The properties every parseServices result has, whatever the text: shared by fuzz/fuzz_services.mjs and the replay test.

/**
 * Throws when an entry breaks a property; returns the entries.
 * @param {(text: string) => import('../lib/services.js').ServiceEntry[]} parseServices
 * @param {string} text
 */
export function checkServices(parseServices, text) {
  const entries = parseServices(text);
  for (const entry of entries) {
    if (typeof entry.name !== 'string' || entry.name === '') throw new Error('an entry without a name');
    if (/[\s#/]/.test(entry.name) || !/[A-Za-z]/.test(entry.name)) throw new Error(`not a name: ${entry.name}`);
    if (!Number.isInteger(entry.port) || entry.port < 0 || entry.port > 65535) throw new Error(`port ${entry.port}`);
    if (!/^[a-z0-9][a-z0-9._+-]*$/.test(entry.protocol)) throw new Error(`protocol ${entry.protocol}`);
    if (entry.aliases.includes(entry.name) || new Set(entry.aliases).size !== entry.aliases.length) {
      throw new Error('an alias repeats the name or another alias');
    }
    // the entry written back as a line reads as the same entry
    const line = [entry.name, `${entry.port}/${entry.protocol}`, ...entry.aliases].join(' ');
    const again = parseServices(line);
    if (again.length !== 1 || JSON.stringify(again[0]) !== JSON.stringify(entry)) {
      throw new Error(`does not read back: ${line}`);
    }
  }
  if (entries.length > text.split('\n').length) throw new Error('more entries than lines');
  return entries;
}
