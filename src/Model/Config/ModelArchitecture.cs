namespace Offload.Model.Config;

/// <summary>The decoder-only architectures the forward pass implements (all Llama-shaped: RMSNorm, RoPE, GQA, SwiGLU).</summary>
public enum ModelArchitecture
{
    /// <summary>`LlamaForCausalLM` (Llama 1/2/3, llama2.c models); optional q/k/v/o biases via attention_bias.</summary>
    Llama,

    /// <summary>`MistralForCausalLM`: Llama plus an optional sliding attention window.</summary>
    Mistral,

    /// <summary>`Qwen2ForCausalLM`: Llama plus q/k/v biases (always) and an optional per-layer sliding window.</summary>
    Qwen2,
}
