// Prints, as JSON, the addon's nf_tables requests and replies for this network namespace's ruleset: how test/fixtures/nftables/*.json are made.
// Usage (root, after `npm run build`): nsenter --net=<netns> node test/helpers/capture-nftables.mjs > test/fixtures/nftables/<name>.json
/** @typedef {import('../../lib/binding.js').NftablesRequest} NftablesRequest */
/** @typedef {import('../../lib/binding.js').NativeBinding} NativeBinding */

// the built library, by a path tsc does not resolve: dist/ exists only after a build
const built = (/** @type {string} */ path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
/** @type {{ getBinding(): NativeBinding }} */
const { getBinding } = await built('binding.js');
/** @type {{ readForwards(options: object, binding: NativeBinding, read: (path: string) => string): Promise<unknown> }} */
const { readForwards } = await built('linux/nftables/index.js');

const binding = getBinding();
const read = binding.readNftablesSync;
if (read === undefined) throw new Error('this addon has no readNftablesSync: npm run build');
/** @type {{ requests: object[], replies: object[] }[]} */
const calls = [];
/** @param {Uint8Array} bytes */
const base64 = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
// the sync reader alone, as the tests' replays answer
const recording = {
  rowLayoutVersion: binding.rowLayoutVersion,
  rowSize: binding.rowSize,
  /** @param {readonly NftablesRequest[]} requests */
  readNftablesSync(requests) {
    const replies = read(requests);
    calls.push({
      requests: requests.map(({ type, family, dump, attributes }) => ({
        type,
        family,
        dump,
        attributes: attributes === undefined ? null : base64(attributes),
      })),
      replies: replies.map(({ errno, syscall, messages }) => ({ errno, syscall, messages: base64(new Uint8Array(messages)) })),
    });
    return replies;
  },
};
// no legacy x_tables in a capture: the fixture is the nf_tables ruleset alone
await readForwards({}, recording, () => '');
process.stdout.write(`${JSON.stringify({ calls }, null, 1)}\n`);
