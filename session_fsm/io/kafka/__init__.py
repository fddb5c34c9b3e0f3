"""Scale-out on Kafka: pollers publish responses, processors keep the state, a service reads.

- :mod:`.messages`: what the topics carry (input messages, change and snapshot records),
  with no Kafka in it;
- :mod:`.client`: confluent-kafka settings, topics, and the publisher ``publish``,
  ``follow --publish-to`` and ``serve --publish-to`` share;
- :mod:`.processor`: ``session-fsm stream``, the engine as a Quix Streams processor;
- :mod:`.view`: ``serve --changes-from-kafka``, the service fed from the output topics.

Nothing here is imported unless one of those runs: the ``kafka`` extra
(``pip install 'session-fsm[kafka]'``) is optional.
"""
