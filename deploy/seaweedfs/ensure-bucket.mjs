// Run in the workers image (compose service s3-init) once SeaweedFS is up: create msm's bucket if it is
// missing. Safe to run again. Exit 2 (no restart helps) when S3 refuses the credentials.
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';

const bucket = process.env.MSM_S3_BUCKET || 'msm';
const endpoint = process.env.MSM_S3_ENDPOINT;
const s3 = new S3Client({ endpoint, forcePathStyle: true, region: process.env.AWS_REGION || 'us-east-1' });
const status = (e) => e?.$metadata?.httpStatusCode;
// How long to wait for S3 to answer (SeaweedFS's healthcheck passes before its S3 API always does).
const waitSeconds = Number(process.env.MSM_S3_WAIT_SECONDS || 180);

for (let attempt = 1; ; attempt++) {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    console.log(`bucket ${bucket} is there`);
    break;
  } catch (e) {
    if (status(e) === 404) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (c) {
        if (c?.name !== 'BucketAlreadyOwnedByYou') throw c; // another s3-init won the race: fine
      }
      console.log(`created bucket ${bucket}`);
      break;
    }
    if (status(e) === 403) {
      console.error(
        `S3 at ${endpoint} refused bucket ${bucket}: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY must be ` +
          'MSM_S3_ACCESS_KEY / MSM_S3_SECRET_KEY, the identity SeaweedFS was started with',
      );
      process.exit(2);
    }
    if (attempt * 2 >= waitSeconds) throw e;
    console.log(`waiting for S3 at ${endpoint} (${e?.name ?? e})`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
