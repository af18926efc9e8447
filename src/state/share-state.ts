// What vfsd keeps per share: for now the remap device registry. New kinds of state become new
// optional keys of the payload, so older files stay readable.

import { DeviceRegistry, type DeviceRegistryOptions } from './device-registry';
import { StateStore, type StateCodec, type StateStoreOptions } from './state-store';

export interface ShareState {
  deviceRegistry: DeviceRegistry;
}

export function shareStateCodec(registryOptions: DeviceRegistryOptions = {}): StateCodec<ShareState> {
  return {
    empty: () => ({ deviceRegistry: new DeviceRegistry(registryOptions) }),
    encode: (s) => ({ deviceRegistry: s.deviceRegistry.toJSON() }),
    decode: (payload) => {
      if (typeof payload !== 'object' || payload === null) throw new Error('state payload is not an object');
      const p = payload as { deviceRegistry?: unknown };
      return {
        deviceRegistry: p.deviceRegistry === undefined ? new DeviceRegistry(registryOptions) : DeviceRegistry.fromJSON(p.deviceRegistry, registryOptions),
      };
    },
    merge: (primary, backup) => ({
      deviceRegistry: DeviceRegistry.merge(primary.deviceRegistry, backup.deviceRegistry, registryOptions),
    }),
  };
}

export function openShareStateStore(opts: StateStoreOptions, registryOptions: DeviceRegistryOptions = {}): StateStore<ShareState> {
  return new StateStore(opts, shareStateCodec(registryOptions));
}
