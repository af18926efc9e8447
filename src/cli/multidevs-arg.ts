// --multidevs values: QEMU 9p's and libvirt's <filesystem multidevs=...>; `default` is remap
// (QEMU's default since 10.0). The message is fixed by the issue that defined the option.
import { UsageError } from './usage-error';

const VALID = ['remap', 'forbid', 'warn', 'default'] as const;

export function parseMultidevsValue(value: string): 'remap' | 'forbid' | 'warn' {
  if (value === 'default') return 'remap';
  if (value === 'remap' || value === 'forbid' || value === 'warn') return value;
  throw new UsageError(`unknown multidevs '${value}' (valid: ${VALID.join(', ')})`);
}
