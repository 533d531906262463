namespace Offload.Model.Import;

/// <summary>
/// The hyperparameters of a llama2.c checkpoint. <see cref="Version"/> is 0 for the legacy 7-int header and 1 for
/// the "ak42" 256-byte header. Head size = dim / heads; kv dim = dim · kv_heads / heads.
/// </summary>
public sealed record Llama2cHeader(int Version, int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    public int HeadSize => Dim / Heads;
    public int KvDim => Dim * KvHeads / Heads;
}
