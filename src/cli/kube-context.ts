/**
 * The namespace of the kubeconfig's current context, as kubectl would default to; undefined when there is
 * none or the kubeconfig cannot be read (loadApiTarget reports that).
 */
export async function contextNamespace(kubeconfig?: string): Promise<string | undefined> {
  try {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const config = new KubeConfig();
    if (kubeconfig) config.loadFromFile(kubeconfig);
    else config.loadFromDefault();
    return config.getContextObject(config.getCurrentContext())?.namespace || undefined;
  } catch {
    return undefined;
  }
}
