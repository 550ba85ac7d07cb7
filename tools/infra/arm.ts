/** Small helpers to read a compiled ARM template, nested (module) deployments included. */

export interface ArmResource {
  type: string;
  name: string;
  condition?: unknown;
  scope?: string;
  properties?: any;
  [key: string]: any;
}

export interface FoundResource {
  resource: ArmResource;
  /** The template that declares it (the main one, or a module's nested template). */
  template: any;
  /** The module deployment names leading to it, outermost first ([] for the main template). */
  modulePath: string[];
}

function resourcesOf(template: any): ArmResource[] {
  const r = template?.resources ?? [];
  // languageVersion 2.0 templates keep resources in an object keyed by symbolic name.
  return Array.isArray(r) ? r : Object.values(r);
}

/** Every resource of the template and of its nested deployments. */
export function allResources(template: any, modulePath: string[] = []): FoundResource[] {
  const found: FoundResource[] = [];
  for (const resource of resourcesOf(template)) {
    found.push({ resource, template, modulePath });
    if (resource.type === 'Microsoft.Resources/deployments' && resource.properties?.template) {
      found.push(...allResources(resource.properties.template, [...modulePath, resource.name]));
    }
  }
  return found;
}

/** Every nested template (module), by deployment name. */
export function modules(template: any): Map<string, { deployment: ArmResource; template: any }> {
  const map = new Map<string, { deployment: ArmResource; template: any }>();
  for (const { resource } of allResources(template)) {
    if (resource.type === 'Microsoft.Resources/deployments' && resource.properties?.template) {
      map.set(resource.name, { deployment: resource, template: resource.properties.template });
    }
  }
  return map;
}

export function resourcesOfType(template: any, type: string): FoundResource[] {
  return allResources(template).filter((f) => f.resource.type.toLowerCase() === type.toLowerCase());
}

/** The names passed to `variables('...')` in an ARM expression. */
export function variableRefs(expression: string): string[] {
  return [...expression.matchAll(/variables\('([^']+)'\)/g)].map((m) => m[1]!);
}
