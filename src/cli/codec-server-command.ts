import { DEFAULT_UI_ORIGINS, startCodecServer } from '../temporal/codec-server';
import { PAYLOAD_KEY_VARIABLE, payloadCodecFrom } from '../temporal/payload-codec';

/** `msm codec-server`: serve the payload codec to the Web UI until interrupted. */
export async function runCodecServer(flags: { port?: string; bind?: string; origin?: string }): Promise<void> {
  const codec = payloadCodecFrom();
  if (!codec)
    throw new Error(
      `msm codec-server: ${PAYLOAD_KEY_VARIABLE} is not set; set it to the key of the clients and workers (openssl rand -base64 32 makes one)`,
    );
  const port = Number(flags.port ?? 8081);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`msm codec-server: --port ${flags.port} is not a TCP port (0 to 65535)`);
  const origins = flags.origin ? flags.origin.split(',').map((o) => o.trim().replace(/\/+$/, '')) : DEFAULT_UI_ORIGINS;
  const server = await startCodecServer({ codec, port, host: flags.bind ?? '127.0.0.1', origins });
  console.log(
    `codec server at ${server.url} (key ${codec.keyId}) for ${origins.join(', ')}; in the Web UI set the codec ` +
      `endpoint to ${server.url} (or start the dev server with --ui-codec-endpoint ${server.url})`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
}
