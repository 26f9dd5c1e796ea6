// docker-proxy, Docker's userland proxy for a published port: where it forwards to, as its command line says.

/** `172.17.0.2:80` from docker-proxy's `-container-ip 172.17.0.2 -container-port 80`; null when its argv does not say. */
export function dockerProxyTarget(argv: readonly string[]): string | null {
  const ip = flagValue(argv, '-container-ip');
  const port = flagValue(argv, '-container-port');
  return ip === undefined || port === undefined ? null : `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/**
 * What a docker-proxy process does with its port, for an owner's `role`: Docker starts one per
 * published port when its userland proxy is on (the default), and it accepts the connections that
 * the DNAT rules of `docker-proxy`-less setups would rewrite.
 */
export function dockerProxyRole(argv: readonly string[]): string {
  const target = dockerProxyTarget(argv);
  const protocol = flagValue(argv, '-proto');
  const from = [flagValue(argv, '-host-ip'), flagValue(argv, '-host-port')];
  const listening =
    from[0] === undefined || from[1] === undefined
      ? ''
      : ` ${protocol ?? ''}${protocol === undefined ? '' : ' '}${from[0].includes(':') ? `[${from[0]}]` : from[0]}:${from[1]}`;
  return `Docker's userland proxy for a published port: forwards${listening} to ${target === null ? 'a container' : `the container at ${target}`}`;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}
