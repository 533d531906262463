using System.Globalization;
using System.Text;
using Offload.Protocol;

namespace Offload.Model.Datasets;

/// <summary>
/// Reads a file that claims to be text: a folder is named as a folder, a NUL byte or bytes that are not UTF-8 are
/// refused with the line and byte offset (never replaced by U+FFFD and tokenized as if they were text). A UTF-8 BOM
/// is dropped.
/// </summary>
public static class TextFile
{
    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The text of <paramref name="path"/>; <paramref name="option"/> names the option it came from ("--dataset",
    /// "--text") and <paramref name="error"/> makes the exception type of the caller.
    /// </summary>
    public static string Read(string path, string option, Func<string, OffloadException> error)
    {
        if (Directory.Exists(path))
            throw error($"{path}: is a folder, not a text file; pass {option} with a UTF-8 text file");
        if (!File.Exists(path)) throw error($"{path}: file not found; pass {option} with a UTF-8 text file");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error($"{path}: cannot be read ({e.Message.Split('\n')[0].TrimEnd('.')}); check the path and its permissions");
        }
        return Decode(bytes, path, option, error);
    }

    /// <summary>Strict UTF-8 decoding of a text file's bytes; see <see cref="Read"/>.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string path, string option, Func<string, OffloadException> error)
    {
        if (bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        var nul = bytes.IndexOf((byte)0);
        if (nul >= 0)
            throw error(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{LineOf(bytes, nul)}: holds a NUL byte (offset {nul}); this is binary data, not text — pass {option} with UTF-8 text, JSON lines or Parquet"));
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            var bad = FirstInvalid(bytes);
            throw error(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{LineOf(bytes, bad)}: not valid UTF-8 (byte 0x{bytes[bad]:X2} at offset {bad}); convert the file to UTF-8 (e.g. iconv -t UTF-8) and pass it to {option} again"));
        }
        return s_strict.GetString(bytes);
    }

    private static int FirstInvalid(ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out var used) != System.Buffers.OperationStatus.Done) return i;
            i += used;
        }
        return Math.Max(0, bytes.Length - 1);
    }

    private static int LineOf(ReadOnlySpan<byte> bytes, int offset) => bytes[..offset].Count((byte)'\n') + 1;
}
