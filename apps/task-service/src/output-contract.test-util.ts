/**
 * vitest `setupFiles`: the output contract check on every server this package's spec files start (every
 * message sent must encode to binary and JSON; OUTPUT_ONLY fields set are recorded). See libs/testing.
 */
import { SERVER_CREATE_CHANNEL } from "@taskmaster/rpc-kit/grpc-server";
import { useOutputContractCheck } from "@taskmaster/testing/output-contract.setup";

useOutputContractCheck(SERVER_CREATE_CHANNEL);
