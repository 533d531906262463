namespace Offload.Model.Config;

/// <summary>The decoder-only architectures the forward pass implements (all Llama-shaped: RMSNorm, RoPE, GQA, SwiGLU; Qwen3 adds q/k norms).</summary>
public enum ModelArchitecture
{
    /// <summary>`LlamaForCausalLM` (Llama 1/2/3, llama2.c models); optional q/k/v/o biases via attention_bias.</summary>
    Llama,

    /// <summary>`MistralForCausalLM`: Llama plus an optional sliding attention window.</summary>
    Mistral,

    /// <summary>`Qwen2ForCausalLM`: Llama plus q/k/v biases (always) and an optional per-layer sliding window.</summary>
    Qwen2,

    /// <summary>
    /// `Qwen3ForCausalLM`: Llama plus a per-head RMSNorm on queries and keys (self_attn.q_norm / k_norm, over head_dim,
    /// after the projections and before RoPE), an explicit head_dim, and optional q/k/v/o biases via attention_bias.
    /// Its sliding window (use_sliding_window) is refused.
    /// </summary>
    Qwen3,
}
