// Floe in JupyterLab: "Run as job" and "Save output" on the notebook toolbar and in the command
// palette, and a Jobs panel in the left sidebar. Everything goes through the server extension
// (/floe/...), which talks to the floe service with the user's own hub token.
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  showDialog,
  showErrorMessage,
  ToolbarButton
} from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
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
interface IContext {
  environment: string;
  machine: string;
  datasets: string[];
  projects: string[];
  catalog: { environments: IEnvironment[]; machines: IMachine[] };
}
interface IJob {
  id: number;
  name: string;
  state: string;
  reason: string;
  kind: string;
  url: string;
  output: string | null;
}

async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'floe', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error || data.message || response.statusText);
  }
  return data as T;
}

function el<K extends keyof HTMLElementTagNameMap>(
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

function defaultProject(panel: NotebookPanel): string {
  const base = panel.context.path.split('/').pop() || 'notebooks';
  const slug = base.replace(/\.ipynb$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return slug.replace(/^[^a-z0-9]+/, '') || 'notebooks';
}

/** The Run as job dialog's body; getValue() is the request for /floe/run. */
class RunJobForm extends Widget {
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
class SaveOutputForm extends Widget {
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

async function showJobLink(title: string, job: IJob): Promise<void> {
  const body = el('div', { class: 'floe-result' });
  body.appendChild(el('span', {}, `${job.name} is ${job.state}. `));
  const link = el('a', { href: job.url, target: '_blank', class: 'floe-job-link' }, 'Open its page');
  body.appendChild(link);
  await showDialog({ title, body: new Widget({ node: body }), buttons: [Dialog.okButton()] });
}

interface IFormWidget extends Widget {
  getValue(): Record<string, unknown>;
}

/** Ask with ``form``; send its answer and the notebook as the editor shows it (unsaved edits
 * included) to the server extension's ``endPoint``; show the new job's link. */
async function submitNotebook(
  panel: NotebookPanel,
  title: string,
  form: (ctx: IContext) => IFormWidget,
  accept: string,
  endPoint: string,
  done: string
): Promise<void> {
  const ctx = await requestAPI<IContext>('context');
  const result = await showDialog({
    title,
    body: form(ctx),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })]
  });
  if (!result.button.accept || !result.value) {
    return;
  }
  const request = {
    ...result.value,
    path: panel.context.path,
    notebook: panel.context.model.toJSON()
  };
  const job = await requestAPI<IJob>(endPoint, { method: 'POST', body: JSON.stringify(request) });
  await showJobLink(done, job);
}

function runAsJob(panel: NotebookPanel): Promise<void> {
  const form = (ctx: IContext) => new RunJobForm(ctx, defaultProject(panel));
  return submitNotebook(panel, 'Run as job', form, 'Run', 'run', 'Submitted');
}

function saveOutput(panel: NotebookPanel): Promise<void> {
  const form = (ctx: IContext) => new SaveOutputForm(ctx, defaultProject(panel));
  return submitNotebook(panel, 'Save output', form, 'Save', 'save', 'Output saved');
}

/** The Jobs panel: recent jobs with live state, links, and "open output in workspace". */
class JobsPanel extends Widget {
  private timer = 0;

  constructor() {
    super();
    this.id = 'floe-jobs';
    this.title.label = 'Jobs';
    this.title.caption = 'Floe jobs';
    this.addClass('floe-jobs');
  }

  protected onAfterShow(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 3000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    let jobs: IJob[];
    try {
      jobs = await requestAPI<IJob[]>('jobs');
    } catch (err) {
      this.node.textContent = `Could not list jobs: ${err}`;
      return;
    }
    const table = el('table');
    for (const job of jobs) {
      const row = el('tr', { 'data-job': job.name });
      const name = el('td');
      name.appendChild(el('a', { href: `/services/floe/jobs/${job.id}`, target: '_blank' }, job.name));
      row.appendChild(name);
      const state = el('td');
      state.appendChild(el('span', { class: `floe-state floe-state-${job.state}`, title: job.reason }, job.state));
      row.appendChild(state);
      const actions = el('td');
      if (job.output) {
        const button = el('button', { class: 'jp-mod-styled' }, 'Open output');
        button.onclick = async () => {
          try {
            const copied = await requestAPI<{ path: string }>('open-output', {
              method: 'POST',
              body: JSON.stringify({ job: job.name })
            });
            button.textContent = `Copied to ${copied.path}`;
          } catch (err) {
            void showErrorMessage('Open output', String(err));
          }
        };
        actions.appendChild(button);
      }
      row.appendChild(actions);
      table.appendChild(row);
    }
    this.node.replaceChildren(
      jobs.length ? table : el('p', {}, 'No jobs yet: press Run as job on a notebook.')
    );
  }
}

function reportErrors(title: string, work: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await work();
    } catch (err) {
      await showErrorMessage(title, err instanceof Error ? err.message : String(err));
    }
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'floe-jupyter:plugin',
  description: 'Run as job, Save output and a Jobs panel for Floe workspaces.',
  autoStart: true,
  requires: [INotebookTracker, ICommandPalette, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette,
    shell: ILabShell
  ) => {
    const current = () => tracker.currentWidget;
    app.commands.addCommand('floe:run-as-job', {
      label: 'Run as job',
      caption: 'Run this notebook as a tracked Floe job',
      isEnabled: () => current() !== null,
      execute: () => {
        const panel = current();
        return panel ? reportErrors('Run as job', () => runAsJob(panel))() : undefined;
      }
    });
    app.commands.addCommand('floe:save-output', {
      label: 'Save output',
      caption: 'Keep this notebook and /output as a tracked Floe job',
      isEnabled: () => current() !== null,
      execute: () => {
        const panel = current();
        return panel ? reportErrors('Save output', () => saveOutput(panel))() : undefined;
      }
    });
    palette.addItem({ command: 'floe:run-as-job', category: 'Floe' });
    palette.addItem({ command: 'floe:save-output', category: 'Floe' });

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel): IDisposable => {
        const run = new ToolbarButton({
          label: 'Run as job',
          className: 'floe-run-as-job',
          tooltip: 'Run this notebook as a tracked Floe job',
          onClick: () => void reportErrors('Run as job', () => runAsJob(panel))()
        });
        const save = new ToolbarButton({
          label: 'Save output',
          className: 'floe-save-output',
          tooltip: 'Keep this notebook and /output as a tracked Floe job',
          onClick: () => void reportErrors('Save output', () => saveOutput(panel))()
        });
        panel.toolbar.insertItem(10, 'floe-run-as-job', run);
        panel.toolbar.insertItem(11, 'floe-save-output', save);
        return new DisposableDelegate(() => {
          run.dispose();
          save.dispose();
        });
      }
    });

    shell.add(new JobsPanel(), 'left', { rank: 900 });
  }
};

export default plugin;
