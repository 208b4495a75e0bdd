package dev.meshlet.core;

/**
 * One endpoint's place in one {@link ClusterState}: what health checks, outlier detection and slow
 * start say of it. Immutable: a change makes a new state and a new snapshot.
 *
 * @param healthy whether active health checks pass
 * @param ejected whether outlier detection has ejected it
 * @param ejectedUntil when the ejection ends, in ticker nanoseconds (meaningful while ejected)
 * @param ejections how many times it was ejected
 * @param warming whether it is in its slow-start window
 * @param warmingSince when that window began, in ticker nanoseconds (meaningful while warming)
 * @param weight the weight balancers use in this snapshot
 */
record EndpointState(
    boolean healthy,
    boolean ejected,
    long ejectedUntil,
    int ejections,
    boolean warming,
    long warmingSince,
    int weight) {

  static EndpointState initial(int weight) {
    return new EndpointState(true, false, 0, 0, false, 0, weight);
  }

  EndpointState withHealthy(boolean healthy) {
    return new EndpointState(
        healthy, ejected, ejectedUntil, ejections, warming, warmingSince, weight);
  }

  EndpointState ejectedUntil(long until) {
    return new EndpointState(healthy, true, until, ejections + 1, warming, warmingSince, weight);
  }

  EndpointState backFromEjection() {
    return new EndpointState(healthy, false, 0, ejections, warming, warmingSince, weight);
  }

  EndpointState warmingFrom(long since) {
    return new EndpointState(healthy, ejected, ejectedUntil, ejections, true, since, weight);
  }

  EndpointState warm() {
    return new EndpointState(
        healthy, ejected, ejectedUntil, ejections, false, warmingSince, weight);
  }

  EndpointState withWeight(int weight) {
    return weight == this.weight
        ? this
        : new EndpointState(
            healthy, ejected, ejectedUntil, ejections, warming, warmingSince, weight);
  }
}
