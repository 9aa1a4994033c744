// The bodies of Floe's two dialogs: Run as job (environment, machine, datasets, parameters, a
// sweep or a schedule) and Save output. Each is a Widget whose getValue() is the request the
// server extension takes; index.ts shows them and sends what they answer.
import { Widget } from '@lumino/widgets';

interface IMachine {
  slug: string;
  display_name: string;
  summary: string;
  default: boolean;
}
interface IEnvironment {
  slug: string;
  display_name: string;
  default: boolean;
}
export interface IContext {
  environment: string;
  machine: string;
  datasets: string[];
  projects: string[];
  catalog: { environments: IEnvironment[]; machines: IMachine[] };
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    node.setAttribute(key, value);
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

function field(form: HTMLElement, label: string, input: HTMLElement, hint = ''): void {
  const id = input.getAttribute('name') || '';
  form.appendChild(el('label', { for: `floe-${id}` }, label));
  input.id = `floe-${id}`;
  form.appendChild(input);
  if (hint) {
    form.appendChild(el('div', { class: 'floe-hint' }, hint));
  }
}

function projectInput(ctx: IContext, name: string): HTMLInputElement {
  const input = el('input', {
    type: 'text',
    name: 'project',
    list: 'floe-projects',
    value: ctx.projects[0] || name
  });
  return input;
}

function projectList(ctx: IContext): HTMLDataListElement {
  const list = el('datalist', { id: 'floe-projects' });
  for (const project of ctx.projects) {
    list.appendChild(el('option', { value: project }));
  }
  return list;
}
/** The Run as job dialog's body; getValue() is the request for /floe/run. */
export class RunJobForm extends Widget {
  constructor(ctx: IContext, project: string) {
    super();
    this.addClass('floe-form');
    const form = this.node;
    form.appendChild(projectList(ctx));
    field(form, 'Project', projectInput(ctx, project), 'Jobs are numbered per project.');
    const machine = el('select', { name: 'machine' });
    for (const m of ctx.catalog.machines) {
      const option = el('option', { value: m.slug }, `${m.display_name} (${m.summary})`);
      if (m.slug === ctx.machine) {
        option.setAttribute('selected', '');
      }
      machine.appendChild(option);
    }
    field(form, 'Machine type', machine);
    const environment = el('select', { name: 'environment' });
    for (const e of ctx.catalog.environments) {
      const option = el('option', { value: e.slug }, e.display_name);
      if (e.slug === ctx.environment) {
        option.setAttribute('selected', '');
      }
      environment.appendChild(option);
    }
    field(form, 'Environment', environment);
    const datasets = el('textarea', { name: 'datasets' });
    datasets.value = ctx.datasets.join('\n');
    field(
      form,
      'Datasets',
      datasets,
      "One per line: 'mnist:2', 'bob/cats:1:/input/pets', 'alice/cats/3/output'."
    );
    const parameters = el('textarea', { name: 'parameters' });
    parameters.value = '{}';
    field(
      form,
      'Parameters',
      parameters,
      "JSON, injected after the cell tagged 'parameters', e.g. {\"lr\": 0.1}."
    );
    const sweep = el('textarea', { name: 'sweep', placeholder: 'lr=0.1,0.01,0.001\nbs=32,64' });
    field(
      form,
      'Sweep',
      sweep,
      'Optional. One parameter a line, NAME=A,B,C (as floe run --param takes it): one job per ' +
        'combination, all of one task, compared on its page.'
    );
    const random = el('input', { type: 'number', name: 'random', min: '1', placeholder: 'all' });
    field(form, 'Combinations', random, 'With a sweep: how many to draw at random (empty: all).');
    const parallel = el('input', { type: 'number', name: 'parallel', min: '1', placeholder: 'any' });
    field(form, 'At most at once', parallel, 'With a sweep: jobs of the task running at once.');
    const cron = el('input', { type: 'text', name: 'cron', placeholder: '0 3 * * *' });
    field(
      form,
      'Schedule',
      cron,
      "Optional. Run it at these times (cron, UTC: '0 3 * * *', '@daily'), the latest " +
        'version of each unpinned dataset each time; empty: once, now.'
    );
    field(form, 'Message', el('input', { type: 'text', name: 'message' }));
    const folder = el('input', { type: 'checkbox', name: 'include_folder' });
    const folderLabel = el('label', {}, '');
    folderLabel.appendChild(folder);
    folderLabel.appendChild(
      document.createTextNode(" Include the notebook's folder (honours .floeignore)")
    );
    form.appendChild(folderLabel);
  }

  getValue(): Record<string, unknown> {
    const get = (name: string) =>
      (this.node.querySelector(`[name="${name}"]`) as HTMLInputElement).value;
    const parameters = get('parameters').trim() || '{}';
    const count = (name: string) => parseInt(get(name), 10) || undefined;
    return {
      sweep: get('sweep'),
      cron: get('cron'),
      random: count('random'),
      parallel: count('parallel'),
      project: get('project').trim(),
      machine: get('machine'),
      environment: get('environment'),
      datasets: get('datasets')
        .split('\n')
        .map(s => s.trim())
        .filter(s => s),
      parameters: JSON.parse(parameters),
      message: get('message'),
      include_folder: (this.node.querySelector('[name="include_folder"]') as HTMLInputElement)
        .checked
    };
  }
}

/** The Save output dialog's body: project and message. */
export class SaveOutputForm extends Widget {
  constructor(ctx: IContext, project: string) {
    super();
    this.addClass('floe-form');
    this.node.appendChild(projectList(ctx));
    field(this.node, 'Project', projectInput(ctx, project));
    field(this.node, 'Message', el('input', { type: 'text', name: 'message' }));
    this.node.appendChild(
      el(
        'div',
        { class: 'floe-hint' },
        'Keeps this notebook with its outputs and the /output folder as a tracked job.'
      )
    );
  }

  getValue(): Record<string, unknown> {
    const get = (name: string) =>
      (this.node.querySelector(`[name="${name}"]`) as HTMLInputElement).value;
    return { project: get('project').trim(), message: get('message') };
  }
}
