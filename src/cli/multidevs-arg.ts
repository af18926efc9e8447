// --multidevs values, turned into a command-line error (exit 2) when unknown. The values and the
// message are the policy's (policy/multidevs.ts).
import { parseMultidevs, MultidevsMode } from '../policy/multidevs';
import { UsageError } from './usage-error';

export function parseMultidevsValue(value: string): MultidevsMode {
  try {
    return parseMultidevs(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
