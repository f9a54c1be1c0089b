/**
 * Messaging ports (Bus: publish/subscribe/request; Stream: durable publish with ack) on NATS.
 * Layer 1: imports errors.ts, node:crypto and npm:@nats-io/* only; the only importer of @nats-io.
 * TLS is mandatory on every broker connection; failures are ScoutErrors naming the cause.
 * @module
 */
export {
  type Broker,
  type BrokerEvent,
  type BrokerOptions,
  type BrokerTls,
  type Bus,
  type BusMessage,
  checkBrokerOptions,
  connectBroker,
  type Stream,
  type StreamOptions,
} from "./_nats.ts";
