/**
 * Messaging ports (Bus: publish/subscribe/request; Stream: durable publish with ack, durable
 * in-order consume with batched acks) on NATS.
 * Layer 1: imports errors.ts, runtime types, node:crypto and npm:@nats-io/*; the only importer of
 * @nats-io. Also the spooled publisher: events leave the on-disk spool only once JetStream acked them.
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
  type ConsumeOptions,
  type Consumption,
  type Kv,
  type KvEntry,
  type KvOptions,
  type KvWatch,
  type Stream,
  type StreamMessage,
  type StreamOptions,
} from "./_nats.ts";
export {
  type SpooledPublisher,
  type SpooledPublisherOptions,
  startSpooledPublisher,
} from "./publisher.ts";
