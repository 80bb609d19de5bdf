// An in-process fake of the parts of the Kubernetes API restore-guard uses, with fault injection.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { ApiClient, RefreshingTarget } from '../src/kube/api-client.js';
import { isObject, type JsonObject } from '../src/common/json.js';
import { issueServing } from '../src/tls/issue.js';

export type Fault = 'none' | 'down' | 'status500' | 'status429' | 'hang';

export interface SarResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export interface SarSpec {
  user?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  resourceAttributes?: SarResourceAttributes;
}

export interface SarAnswer {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

/** Who may do `verb` (default restore) on podcheckpoints in a namespace, optionally one name only. */
export interface Grant {
  user?: string;
  group?: string;
  namespace: string;
  name?: string;
  verb?: string;
  /** The resource (plural) granted on; default podcheckpoints. */
  resource?: string;
  /** The subresource granted on (exec on pods, for a capture); default none. */
  subresource?: string;
}

export interface FakeApiOptions {
  /** Where podcheckpoints are served; default node.k8s.io/v1alpha1. */
  checkpointGroup?: string;
  checkpointVersion?: string;
  token?: string;
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1, as an in-cluster API server would. */
  tls?: boolean;
}

/** Objects made on demand from their index; see FakeResource.setGenerated. */
export interface Generated {
  count: number;
  /** The resourceVersion every generated object carries (they all exist from the start). */
  resourceVersion: number;
  text(index: number, resourceVersion: string): string;
  indexOf(namespace: string, name: string): number | undefined;
  namespaceOf(index: number): string;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

interface Watcher {
  res: ServerResponse;
  namespace: string | undefined;
  /** From `fieldSelector=metadata.name=X`: a watch of one object. */
  name: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** The objects of one resource, with the event history that watches resume from. */
export class FakeResource {
  private readonly objects = new Map<string, JsonObject>();
  private history: { rv: number; type: EventType; object: JsonObject }[] = [];
  // Watches from a resourceVersion below this get 410 Gone, as after etcd compaction.
  private oldestRv = 0;
  readonly watchers = new Set<Watcher>();
  /** The `limit` of every list request, in order (0 when none was given). */
  readonly listLimits: number[] = [];
  /** Written raw at the start of every watch, e.g. a malformed line (fault injection). */
  watchPrelude: string | undefined;
  /** Events kept for watches to resume from; older ones are forgotten (410 Gone), as after etcd compaction. */
  maxHistory = 50_000;
  // Objects made on demand from their index (the benchmark's 100,000 checkpoints), never all held.
  private generated: Generated | undefined;
  // Generated indexes replaced by a put (then held in `objects`) or deleted.
  private readonly generatedGone = new Set<number>();

  constructor(
    private readonly api: FakeApi,
    readonly group: string,
    readonly version: string,
    readonly plural: string,
    readonly kind: string,
    readonly namespaced: boolean,
  ) {}

  /**
   * Serves `count` objects made on demand: `text(i, resourceVersion)` is object i's JSON and `indexOf`
   * finds i from a namespace and name. Lists stream them page by page; nothing is held per object.
   */
  setGenerated(generated: Generated): void {
    this.generated = generated;
    this.generatedGone.clear();
  }

  /** How many objects exist now (generated ones included). */
  get count(): number {
    return this.objects.size + (this.generated ? this.generated.count - this.generatedGone.size : 0);
  }

  private generatedIndex(namespace: string | undefined, name: string): number | undefined {
    const index = this.generated?.indexOf(namespace ?? '', name);
    return index === undefined || this.generatedGone.has(index) ? undefined : index;
  }

  /** Creates or replaces an object (namespace defaults to "default" for namespaced resources). */
  put(input: JsonObject): JsonObject {
    const object = structuredClone(input);
    const metadata = isObject(object.metadata) ? object.metadata : {};
    object.metadata = metadata;
    if (typeof metadata.name !== 'string') throw new Error('put: metadata.name is required');
    if (this.namespaced && typeof metadata.namespace !== 'string') metadata.namespace = 'default';
    if (!this.namespaced) delete metadata.namespace;
    object.apiVersion ??= `${this.group}/${this.version}`;
    object.kind ??= this.kind;
    const key = this.keyOf(typeof metadata.namespace === 'string' ? metadata.namespace : undefined, metadata.name);
    const generatedIndex = this.generatedIndex(typeof metadata.namespace === 'string' ? metadata.namespace : undefined, metadata.name);
    if (generatedIndex !== undefined) this.generatedGone.add(generatedIndex);
    const existed = this.objects.has(key) || generatedIndex !== undefined;
    const rv = this.api.nextResourceVersion();
    metadata.resourceVersion = String(rv);
    this.objects.set(key, object);
    this.record(rv, existed ? 'MODIFIED' : 'ADDED', object);
    return object;
  }

  /** Deletes an object; for cluster-scoped resources pass only the name. */
  remove(namespaceOrName: string, name?: string): boolean {
    const key = name === undefined ? this.keyOf(undefined, namespaceOrName) : this.keyOf(namespaceOrName, name);
    let object = this.objects.get(key);
    if (!object) {
      const index = name === undefined ? undefined : this.generatedIndex(namespaceOrName, name);
      if (index === undefined || !this.generated) return false;
      object = JSON.parse(this.generated.text(index, String(this.generated.resourceVersion))) as JsonObject;
      this.generatedGone.add(index);
    }
    this.objects.delete(key);
    const rv = this.api.nextResourceVersion();
    const gone = structuredClone(object);
    if (isObject(gone.metadata)) gone.metadata.resourceVersion = String(rv);
    this.record(rv, 'DELETED', gone);
    return true;
  }

  get(namespace: string | undefined, name: string): JsonObject | undefined {
    const object = this.objects.get(this.keyOf(namespace, name));
    if (object || !this.generated) return object;
    const index = this.generatedIndex(namespace, name);
    return index === undefined ? undefined : (JSON.parse(this.generated.text(index, String(this.generated.resourceVersion))) as JsonObject);
  }

  /** Forgets the event history: watches from any older resourceVersion get 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.api.currentResourceVersion();
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch. */
  bookmark(): void {
    const rv = String(this.api.currentResourceVersion());
    for (const watcher of this.watchers) {
      send(watcher.res, 'BOOKMARK', { kind: this.kind, apiVersion: `${this.group}/${this.version}`, metadata: { resourceVersion: rv } });
    }
  }

  list(namespace: string | undefined): JsonObject[] {
    return [...this.objects.values()]
      .filter((o) => namespace === undefined || namespaceOf(o) === namespace)
      .sort((a, b) => this.keyOfObject(a).localeCompare(this.keyOfObject(b)));
  }

  handleList(url: URL, namespace: string | undefined, res: ServerResponse): void {
    if (this.generated) {
      this.streamGeneratedList(url, namespace, res, this.generated).catch(() => res.destroy());
      return;
    }
    const all = this.list(namespace);
    const limit = Number(url.searchParams.get('limit') ?? '0');
    this.listLimits.push(limit);
    const token = url.searchParams.get('continue');
    let start = 0;
    let rv = String(this.api.currentResourceVersion());
    if (token) {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (isObject(parsed) && typeof parsed.start === 'number' && typeof parsed.rv === 'string') {
        start = parsed.start;
        rv = parsed.rv;
      }
    }
    const end = limit > 0 ? Math.min(all.length, start + limit) : all.length;
    const metadata: JsonObject = { resourceVersion: rv };
    if (end < all.length) metadata.continue = Buffer.from(JSON.stringify({ start: end, rv })).toString('base64url');
    json(res, 200, {
      apiVersion: `${this.group}/${this.version}`,
      kind: `${this.kind}List`,
      metadata,
      items: all.slice(start, end),
    });
  }

  /**
   * A list page as kube-apiserver sends it, written item by item with backpressure: positions below
   * the generated count are generated objects, the rest the stored ones. Never one giant response.
   */
  private async streamGeneratedList(url: URL, namespace: string | undefined, res: ServerResponse, generated: Generated): Promise<void> {
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const token = url.searchParams.get('continue');
    let start = 0;
    let rv = String(this.api.currentResourceVersion());
    if (token) {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (isObject(parsed) && typeof parsed.start === 'number' && typeof parsed.rv === 'string') ({ start, rv } = parsed as { start: number; rv: string });
    }
    const stored = this.list(namespace);
    const total = generated.count + stored.length;
    const end = limit > 0 ? Math.min(total, start + limit) : total;
    const metadata: JsonObject = { resourceVersion: rv };
    if (end < total) metadata.continue = Buffer.from(JSON.stringify({ start: end, rv })).toString('base64url');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const head = JSON.stringify({ apiVersion: `${this.group}/${this.version}`, kind: `${this.kind}List`, metadata });
    let pending = `${head.slice(0, -1)},"items":[`;
    let first = true;
    for (let position = start; position < end; position++) {
      let text: string | undefined;
      if (position < generated.count) {
        if (this.generatedGone.has(position) || (namespace !== undefined && generated.namespaceOf(position) !== namespace)) continue;
        text = generated.text(position, String(generated.resourceVersion));
      } else {
        const object = stored[position - generated.count];
        if (object) text = JSON.stringify(object);
      }
      if (text === undefined) continue;
      pending += first ? text : `,${text}`;
      first = false;
      if (pending.length >= 256 * 1024) {
        const more = res.write(pending);
        pending = '';
        if (!more) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
        if (res.destroyed) return;
      }
    }
    res.end(`${pending}]}`);
  }

  handleWatch(url: URL, namespace: string | undefined, res: ServerResponse): void {
    const name = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const wanted = (object: JsonObject) => (namespace === undefined || namespaceOf(object) === namespace) && (name === undefined || nameOf(object) === name);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (this.watchPrelude !== undefined) res.write(this.watchPrelude);
    const param = url.searchParams.get('resourceVersion');
    const from = param === null || param === '' || param === '0' ? undefined : Number(param);
    if (from !== undefined && (Number.isNaN(from) || from < this.oldestRv)) {
      send(res, 'ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: `too old resource version: ${param} (${this.oldestRv})`,
        reason: 'Expired',
        code: 410,
      });
      res.end();
      return;
    }
    if (from === undefined) {
      for (const object of this.list(namespace)) if (wanted(object)) send(res, 'ADDED', object);
    } else {
      for (const event of this.history) {
        if (event.rv > from && wanted(event.object)) send(res, event.type, event.object);
      }
    }
    const watcher: Watcher = { res, namespace, name, timer: undefined };
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) watcher.timer = setTimeout(() => res.end(), timeoutSeconds * 1000);
    this.watchers.add(watcher);
    res.on('close', () => {
      if (watcher.timer !== undefined) clearTimeout(watcher.timer);
      this.watchers.delete(watcher);
    });
  }

  handleGet(namespace: string | undefined, name: string, res: ServerResponse): void {
    const object = this.get(namespace, name);
    if (object) json(res, 200, object);
    else status(res, 404, 'NotFound', `${this.plural}.${this.group} "${name}" not found`);
  }

  dropWatches(): void {
    for (const watcher of this.watchers) watcher.res.end();
  }

  private record(rv: number, type: EventType, object: JsonObject): void {
    this.history.push({ rv, type, object });
    if (this.history.length > this.maxHistory) {
      const dropped = this.history.splice(0, this.history.length - Math.floor(this.maxHistory / 2));
      this.oldestRv = dropped[dropped.length - 1]?.rv ?? this.oldestRv;
    }
    for (const watcher of this.watchers) {
      const inNamespace = watcher.namespace === undefined || watcher.namespace === namespaceOf(object);
      if (inNamespace && (watcher.name === undefined || watcher.name === nameOf(object))) send(watcher.res, type, object);
    }
  }

  private keyOf(namespace: string | undefined, name: string): string {
    return `${this.namespaced ? (namespace ?? 'default') : ''}/${name}`;
  }

  private keyOfObject(object: JsonObject): string {
    const metadata = isObject(object.metadata) ? object.metadata : {};
    return `${typeof metadata.namespace === 'string' ? metadata.namespace : ''}/${typeof metadata.name === 'string' ? metadata.name : ''}`;
  }
}

export class FakeApi {
  readonly checkpoints: FakeResource;
  readonly runtimeClasses: FakeResource;
  /** Core resources: the policy ConfigMap, and namespaces for label selectors. */
  readonly configMaps: FakeResource;
  readonly namespaces: FakeResource;
  /** Every Event created through the API, in order. */
  readonly events: JsonObject[] = [];
  /** Every SubjectAccessReview spec received, in order. */
  readonly sarSpecs: SarSpec[] = [];
  /** Resources added with addResource (e.g. podsnapshots of another restore source). */
  readonly extraResources: FakeResource[] = [];
  /** Who the token authenticates as: the answer to SelfSubjectReview, and the subject of SelfSubjectAccessReviews. */
  self: { username: string; groups: string[] } = { username: 'fake-user', groups: ['system:authenticated'] };
  /** Every SelfSubjectAccessReview's resource attributes, in order. */
  readonly selfReviews: SarResourceAttributes[] = [];
  /** Answers SubjectAccessReviews; by default from the grants table. */
  sarHandler: (spec: SarSpec) => SarAnswer = (spec) => this.answerFromGrants(spec);

  private readonly server: Server | TlsServer;
  /** The serving certificate (PEM) when started with `tls`. */
  readonly caPem: string | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly grants: Grant[] = [];
  private readonly callCounts = new Map<string, number>();
  private resourceVersion = 100;
  private fault: Fault = 'none';
  private delayMs = 0;
  private port = 0;
  private readonly token: string;

  private constructor(options: FakeApiOptions, pair: { cert: string; key: string } | undefined) {
    this.caPem = pair?.cert;
    this.token = options.token ?? 'fake-token';
    this.checkpoints = new FakeResource(
      this,
      options.checkpointGroup ?? 'node.k8s.io',
      options.checkpointVersion ?? 'v1alpha1',
      'podcheckpoints',
      'PodCheckpoint',
      true,
    );
    this.runtimeClasses = new FakeResource(this, 'node.k8s.io', 'v1', 'runtimeclasses', 'RuntimeClass', false);
    this.configMaps = new FakeResource(this, '', 'v1', 'configmaps', 'ConfigMap', true);
    this.namespaces = new FakeResource(this, '', 'v1', 'namespaces', 'Namespace', false);
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) status(res, 500, 'InternalError', `fake API: ${String(err)}`);
        else res.destroy();
      });
    };
    this.server = pair ? createTlsServer(pair, handler) : createServer(handler);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: FakeApiOptions = {}): Promise<FakeApi> {
    const api = new FakeApi(options, options.tls ? await issueServing({ commonName: '127.0.0.1', ips: ['127.0.0.1'] }) : undefined);
    await api.listen(0);
    return api;
  }

  get url(): string {
    return `${this.caPem ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  nextResourceVersion(): number {
    return ++this.resourceVersion;
  }

  currentResourceVersion(): number {
    return this.resourceVersion;
  }

  /** Serves one more resource (GET, list, watch), e.g. a snapshot system's podsnapshots. */
  addResource(group: string, version: string, plural: string, kind: string, namespaced = true): FakeResource {
    const resource = new FakeResource(this, group, version, plural, kind, namespaced);
    this.extraResources.push(resource);
    return resource;
  }

  grant(grant: Grant): void {
    this.grants.push(grant);
  }

  /** Requests that reached an endpoint, e.g. "subjectaccessreviews", "podcheckpoints.get|list|watch". */
  calls(endpoint: string): number {
    return this.callCounts.get(endpoint) ?? 0;
  }

  get sarCount(): number {
    return this.sarSpecs.length;
  }

  /** Open watch streams, over all resources. */
  get openWatches(): number {
    return [this.checkpoints, this.runtimeClasses, this.configMaps, this.namespaces].reduce((n, r) => n + r.watchers.size, 0);
  }

  /**
   * 'down' closes the listening socket and every open connection (clients get ECONNREFUSED); any
   * other fault brings it back on the same port. 'status500'/'status429' answer every request with
   * that status; 'hang' never answers.
   */
  async setFault(fault: Fault): Promise<void> {
    const wasDown = this.fault === 'down';
    this.fault = fault;
    if (fault === 'down' && !wasDown) {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const socket of this.sockets) socket.destroy();
      await closed;
    } else if (fault !== 'down' && wasDown) {
      await this.listen(this.port);
    }
  }

  /** Added before every answer (including the headers of a watch). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Ends every open watch stream, as an API server restart or a load balancer would. */
  dropWatches(): void {
    this.checkpoints.dropWatches();
    this.runtimeClasses.dropWatches();
  }

  /** An API client for this server, as the webhook builds one from a kubeconfig. */
  client(): ApiClient {
    const material = { headers: { authorization: `Bearer ${this.token}` }, ...(this.caPem && { ca: this.caPem }) };
    return new ApiClient(new RefreshingTarget(new URL(this.url), () => Promise.resolve(material)));
  }

  /**
   * Lays out what the kubelet mounts for a pod's service account (token, ca.crt) in `dir` and returns
   * the environment a pod gets: restore-guard then runs as it does in a cluster. Needs `tls`.
   */
  async writeServiceAccount(dir: string): Promise<{ KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string }> {
    if (!this.caPem) throw new Error('the in-cluster layout needs a fake API started with tls');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'token'), `${this.token}\n`, 'utf8');
    await writeFile(join(dir, 'ca.crt'), this.caPem, 'utf8');
    return { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  /** Writes a kubeconfig file for this server into `dir`; returns its path. */
  async writeKubeConfig(dir: string): Promise<string> {
    const file = join(dir, 'kubeconfig');
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      // Plain http needs TLS verification explicitly off.
      ...(this.caPem ? [`    certificate-authority-data: ${Buffer.from(this.caPem).toString('base64')}`] : ['    insecure-skip-tls-verify: true']),
      'users:',
      '- name: fake-user',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: fake-user',
      'current-context: fake',
      '',
    ].join('\n');
    await writeFile(file, text, 'utf8');
    return file;
  }

  async close(): Promise<void> {
    this.dropWatches();
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = this.route(req.method ?? 'GET', url);
    if (!route) {
      status(res, 404, 'NotFound', `fake API does not serve ${req.method} ${url.pathname}`);
      return;
    }
    this.callCounts.set(route.endpoint, this.calls(route.endpoint) + 1);
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    switch (this.fault) {
      case 'status500':
        status(res, 500, 'InternalError', 'fake API: injected failure');
        return;
      case 'status429':
        res.setHeader('Retry-After', '1');
        status(res, 429, 'TooManyRequests', 'fake API: too many requests, please try again later');
        return;
      case 'hang':
        // Never answers; close() and 'down' destroy the socket.
        return;
      default:
        route.run(body, res);
    }
  }

  private route(method: string, url: URL): { endpoint: string; run: (body: string, res: ServerResponse) => void } | undefined {
    const parts = url.pathname
      .split('/')
      .filter((p) => p.length > 0)
      .map(decodeURIComponent);
    if (method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
      return { endpoint: 'subjectaccessreviews', run: (body, res) => this.subjectAccessReview(body, res) };
    }
    if (method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      return { endpoint: 'selfsubjectaccessreviews', run: (body, res) => this.selfSubjectAccessReview(body, res) };
    }
    if (method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      return {
        endpoint: 'selfsubjectreviews',
        run: (_body, res) =>
          json(res, 201, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {}, status: { userInfo: { ...this.self } } }),
      };
    }
    if (method === 'POST' && parts[0] === 'api' && parts[2] === 'namespaces' && parts[4] === 'events' && parts.length === 5) {
      return { endpoint: 'events', run: (body, res) => json(res, 201, this.recordEvent(body)) };
    }
    // Core resources live under /api/v1, the others under /apis/GROUP/VERSION.
    const core = parts[0] === 'api';
    if (method !== 'GET' || (parts[0] !== 'apis' && !core)) return undefined;
    const [group, version] = core ? ['', parts[1]] : [parts[1], parts[2]];
    for (const resource of [this.checkpoints, this.runtimeClasses, this.configMaps, this.namespaces, ...this.extraResources]) {
      if (group !== resource.group || version !== resource.version) continue;
      let rest = parts.slice(core ? 2 : 3);
      let namespace: string | undefined;
      if (resource.namespaced && rest[0] === 'namespaces' && rest.length >= 3) {
        namespace = rest[1];
        rest = rest.slice(2);
      }
      if (rest[0] !== resource.plural) continue;
      const name = rest[1];
      const watching = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
      if (rest.length === 1) {
        const endpoint = `${resource.plural}.${watching ? 'watch' : 'list'}`;
        return {
          endpoint,
          run: (_body, res) => {
            if (watching) resource.handleWatch(url, namespace, res);
            else resource.handleList(url, namespace, res);
          },
        };
      }
      if (rest.length === 2 && name !== undefined && (namespace !== undefined || !resource.namespaced)) {
        return { endpoint: `${resource.plural}.get`, run: (_body, res) => resource.handleGet(namespace, name, res) };
      }
    }
    return undefined;
  }

  private recordEvent(body: string): JsonObject {
    const event: unknown = JSON.parse(body);
    const stored: JsonObject = isObject(event) ? event : {};
    this.events.push(stored);
    return stored;
  }

  private subjectAccessReview(body: string, res: ServerResponse): void {
    const parsed: unknown = JSON.parse(body);
    const spec: SarSpec = isObject(parsed) && isObject(parsed.spec) ? toSarSpec(parsed.spec) : {};
    this.sarSpecs.push(spec);
    const answer = this.sarHandler(spec);
    const reviewStatus: JsonObject = { allowed: answer.allowed };
    if (answer.denied !== undefined) reviewStatus.denied = answer.denied;
    if (answer.reason !== undefined) reviewStatus.reason = answer.reason;
    if (answer.evaluationError !== undefined) reviewStatus.evaluationError = answer.evaluationError;
    json(res, 201, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      metadata: {},
      spec: isObject(parsed) && isObject(parsed.spec) ? parsed.spec : {},
      status: reviewStatus,
    });
  }

  private selfSubjectAccessReview(body: string, res: ServerResponse): void {
    const parsed: unknown = JSON.parse(body);
    const attributes =
      isObject(parsed) && isObject(parsed.spec) && isObject(parsed.spec.resourceAttributes)
        ? toSarSpec({ resourceAttributes: parsed.spec.resourceAttributes }).resourceAttributes
        : {};
    this.selfReviews.push(attributes ?? {});
    const answer = this.sarHandler({ user: this.self.username, groups: this.self.groups, resourceAttributes: attributes ?? {} });
    const reviewStatus: JsonObject = { allowed: answer.allowed };
    if (answer.denied !== undefined) reviewStatus.denied = answer.denied;
    if (answer.reason !== undefined) reviewStatus.reason = answer.reason;
    if (answer.evaluationError !== undefined) reviewStatus.evaluationError = answer.evaluationError;
    json(res, 201, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: isObject(parsed) && isObject(parsed.spec) ? parsed.spec : {},
      status: reviewStatus,
    });
  }

  private answerFromGrants(spec: SarSpec): SarAnswer {
    const attributes = spec.resourceAttributes ?? {};
    const match = this.grants.find(
      (g) =>
        (g.user === undefined || g.user === spec.user) &&
        (g.group === undefined || (spec.groups ?? []).includes(g.group)) &&
        (g.user !== undefined || g.group !== undefined) &&
        g.namespace === attributes.namespace &&
        (g.name === undefined || g.name === attributes.name) &&
        (g.verb ?? 'restore') === attributes.verb &&
        attributes.resource === (g.resource ?? 'podcheckpoints') &&
        (attributes.subresource ?? '') === (g.subresource ?? ''),
    );
    return match ? { allowed: true, reason: 'fake grant' } : { allowed: false, reason: '' };
  }
}

function toSarSpec(spec: JsonObject): SarSpec {
  const out: SarSpec = {};
  if (typeof spec.user === 'string') out.user = spec.user;
  if (typeof spec.uid === 'string') out.uid = spec.uid;
  if (Array.isArray(spec.groups)) out.groups = spec.groups.filter((g): g is string => typeof g === 'string');
  if (isObject(spec.extra)) {
    out.extra = {};
    for (const [key, values] of Object.entries(spec.extra)) {
      if (Array.isArray(values)) out.extra[key] = values.filter((v): v is string => typeof v === 'string');
    }
  }
  if (isObject(spec.resourceAttributes)) {
    const attributes: SarResourceAttributes = {};
    for (const field of ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'] as const) {
      const value = spec.resourceAttributes[field];
      if (typeof value === 'string') attributes[field] = value;
    }
    out.resourceAttributes = attributes;
  }
  return out;
}

function namespaceOf(object: JsonObject): string | undefined {
  return isObject(object.metadata) && typeof object.metadata.namespace === 'string' ? object.metadata.namespace : undefined;
}

function send(res: ServerResponse, type: EventType, object: JsonObject): void {
  if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
}

function json(res: ServerResponse, code: number, body: JsonObject): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A PodCheckpoint object as the kubelet would leave it. */
export function checkpointObject(namespace: string, name: string, options: { ready?: boolean; nodeName?: string; reason?: string } = {}): JsonObject {
  const ready = options.ready ?? true;
  return {
    metadata: { namespace, name },
    spec: { sourcePod: { name: `${name}-source` }, timeoutSeconds: 60 },
    status: {
      nodeName: options.nodeName ?? 'node-1',
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: options.reason ?? (ready ? 'CheckpointCompleted' : 'CheckpointInProgress'),
        },
      ],
      checkpointedPodTemplate: { spec: { containers: [{ name: 'app', image: 'registry.example/app@sha256:0' }] } },
    },
  };
}

function nameOf(object: JsonObject): string | undefined {
  const metadata = object.metadata;
  return isObject(metadata) && typeof metadata.name === 'string' ? metadata.name : undefined;
}
