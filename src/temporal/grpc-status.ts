/** The gRPC status codes msm reacts to (grpc.io's status codes). */
export const GRPC = {
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  UNAUTHENTICATED: 16,
} as const;

/** The status code of a failed gRPC call; undefined for any other error. */
export const grpcCode = (e: unknown): number | undefined =>
  typeof (e as { code?: unknown })?.code === 'number' ? (e as { code: number }).code : undefined;

/** The server refused the call itself: no permission, not authenticated, or the service is not offered. */
export const refusedByServer = (e: unknown): boolean => {
  const code = grpcCode(e);
  return code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED || code === GRPC.UNIMPLEMENTED;
};
