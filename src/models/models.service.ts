import { Injectable } from '@nestjs/common';

/** A model of the demo catalogue. */
export interface Model {
  id: string;
  name: string;
  provider: string;
  context_window: number;
}

const CATALOGUE: readonly Model[] = [
  { id: 'gpt-4', name: 'GPT-4', provider: 'openai', context_window: 8192 },
  { id: 'gpt-4o-mini', name: 'GPT-4o mini', provider: 'openai', context_window: 128000 },
  { id: 'claude-3-haiku', name: 'Claude 3 Haiku', provider: 'anthropic', context_window: 200000 },
  { id: 'llama-3-70b', name: 'Llama 3 70B', provider: 'meta', context_window: 8192 },
  { id: 'mistral-large', name: 'Mistral Large', provider: 'mistral', context_window: 32000 },
];

/** The demo's static model catalogue (stands in for a slow upstream worth caching). */
@Injectable()
export class ModelsService {
  list(): readonly Model[] {
    return CATALOGUE;
  }

  find(id: string): Model | undefined {
    return CATALOGUE.find((model) => model.id === id);
  }
}
