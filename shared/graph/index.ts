/**
 * Microsoft Graph: the one client every caller uses (Retry-After, one token renewal on 401, typed
 * errors). What Graph's answers mean for a caller stays with that caller: delivery maps them to
 * delivery errors (shared/delivery/graph), the directory sync to its own (shared/directorySync).
 */
export * from './client';
export * from './errors';
export * from './mailboxSlots';
