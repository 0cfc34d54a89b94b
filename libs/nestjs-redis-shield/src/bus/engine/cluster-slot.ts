/** The number of hash slots of a Redis Cluster. */
const SLOTS = 16_384;

/**
 * The Cluster hash slot of a key or shard channel: CRC16 (XMODEM) of its hash tag (the
 * text between the first `{` and the next `}`, when not empty) or of the whole name,
 * modulo 16384, as Redis computes it (`CLUSTER KEYSLOT`).
 */
export function clusterSlot(key: string): number {
  let hashed = Buffer.from(key, 'utf8');
  const open = hashed.indexOf('{');
  if (open !== -1) {
    const close = hashed.indexOf('}', open + 1);
    if (close > open + 1) hashed = hashed.subarray(open + 1, close);
  }
  return crc16(hashed) % SLOTS;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
